package controllers

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// podTemplateInSync says whether live still is what want describes.
// DeepDerivative ignores the fields want leaves empty, so what the API
// server fills in by default is not mistaken for drift (the operator sets
// every defaulted number it cares about, such as probe thresholds). Items
// added by hand to the lists the operator owns are drift too, which
// DeepDerivative alone would not see.
func podTemplateInSync(want, live *corev1.PodTemplateSpec) bool {
	if !equality.Semantic.DeepDerivative(*want, *live) {
		return false
	}
	ws, ls := &want.Spec, &live.Spec
	if len(ws.Containers) != len(ls.Containers) || len(ws.InitContainers) != len(ls.InitContainers) || len(ws.Volumes) != len(ls.Volumes) {
		return false
	}
	for i := range ws.Containers {
		w, l := &ws.Containers[i], &ls.Containers[i]
		if len(w.Command) != len(l.Command) || len(w.Args) != len(l.Args) || len(w.Env) != len(l.Env) ||
			len(w.EnvFrom) != len(l.EnvFrom) || len(w.Ports) != len(l.Ports) || len(w.VolumeMounts) != len(l.VolumeMounts) {
			return false
		}
	}
	return true
}

func sameStringPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
