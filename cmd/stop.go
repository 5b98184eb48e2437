package cmd

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
)

// newStopCommand scales the operator's Deployment to zero and waits for its
// pods to be gone. The chart runs it as a pre-delete hook: `helm uninstall`
// deletes the operator's ServiceAccount and RBAC right after its
// Deployment, while the pod is still stopping, so the pod could no longer
// release its leader-election Lease (and logged the failure), and the
// next install waited for the Lease to expire. Stopped first, it releases
// the Lease with its rights intact.
func newStopCommand() *cobra.Command {
	var (
		namespace, deployment string
		timeout               time.Duration
		logs                  *logFlags
	)
	c := &cobra.Command{
		Use:    "stop-operator",
		Short:  "Scale the operator's Deployment to zero and wait for its pods to stop (the chart's pre-delete hook)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := logs.logger(runnerLogs)
			cfg, err := ctrl.GetConfig()
			if err != nil {
				return err
			}
			cs, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			d, err := cs.AppsV1().Deployments(namespace).Patch(ctx, deployment, types.MergePatchType, []byte(`{"spec":{"replicas":0}}`), metav1.PatchOptions{})
			if apierrors.IsNotFound(err) {
				log.Info("no operator Deployment to stop", "deployment", deployment)
				return nil
			}
			if err != nil {
				return fmt.Errorf("scaling the operator Deployment %s/%s to zero: %w", namespace, deployment, err)
			}
			sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
			if err != nil {
				return err
			}
			for {
				pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
				if err == nil && len(pods.Items) == 0 {
					log.Info("operator stopped", "deployment", deployment)
					return nil
				}
				select {
				case <-ctx.Done():
					// Uninstalling goes on: the next install waits for the
					// Lease to expire, nothing worse.
					log.Info("the operator's pods did not stop in time; uninstalling anyway", "deployment", deployment, "timeout", timeout.String())
					return nil
				case <-time.After(time.Second):
				}
			}
		},
	}
	f := c.Flags()
	f.StringVar(&namespace, "namespace", "", "namespace of the operator Deployment")
	f.StringVar(&deployment, "deployment", "", "name of the operator Deployment")
	f.DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait for its pods to stop")
	logs = bindLogFlags(f)
	_ = c.MarkFlagRequired("namespace")
	_ = c.MarkFlagRequired("deployment")
	return c
}
