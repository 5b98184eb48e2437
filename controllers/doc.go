// Package controllers holds the SyncPipeline reconciler: a short, linear
// list of steps, one concern a file (validate, secrets, config, run-now,
// cronjob, workers, scale, pdb, status; finalizer for deletion).
package controllers

// RBAC the operator needs, generated into config/rbac/role.yaml. Each rule is
// what one step does, nothing more: owned objects are never deleted by the
// operator (owner references let the garbage collector do it) except the
// PodDisruptionBudget below two workers, the default-Redis Secret once a
// pipeline names its own Redis, and running extraction Jobs of a deleted
// pipeline. Secrets are listed and watched as metadata only; values are read
// with get, uncached.
//
// +kubebuilder:rbac:groups=sync.sisporta.io,resources=syncpipelines,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=sync.sisporta.io,resources=syncpipelines/status,verbs=get;patch
// +kubebuilder:rbac:groups=sync.sisporta.io,resources=syncpipelines/finalizers,verbs=update
// +kubebuilder:rbac:groups=batch,resources=cronjobs,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
