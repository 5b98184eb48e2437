// Package controllers holds the SyncPipeline reconciler: a short, linear
// list of steps, one concern a file.
package controllers

// RBAC the operator needs, generated into config/rbac/role.yaml.
// +kubebuilder:rbac:groups=sync.sisporta.io,resources=syncpipelines,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=sync.sisporta.io,resources=syncpipelines/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=sync.sisporta.io,resources=syncpipelines/finalizers,verbs=update
