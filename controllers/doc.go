// Package controllers holds the SyncPipeline reconciler: a short, linear
// list of steps, one concern a file (validate, secrets, config, run-now,
// cronjob, workers, scale, pdb, status; finalizer for deletion).
package controllers

// RBAC the operator needs, generated into config/rbac/role.yaml. Each rule is
// what one step does, nothing more: owned objects are never deleted by the
// operator (owner references let the garbage collector do it) except the
// PodDisruptionBudget below two workers and running extraction Jobs of a
// deleted pipeline.
//
// Secrets: cluster-wide, the operator only reads them. It lists and watches
// them as metadata only (names and resourceVersions, to notice a referenced
// Secret appearing or changing) and gets the values of the Secrets a
// pipeline names, uncached. The one Secret it writes is its copy of the
// default Redis URL, DefaultRedisSecret, and only where a namespaced Role
// allows it: the rules marked namespace=system below become a Role in the
// operator's own namespace (kustomize and the chart put it there; the chart
// adds the same Role to watchNamespace and defaultRedis.namespaces).
// Creating cannot be limited to a name; patching and deleting are.
//
// +kubebuilder:rbac:groups=sync.sisporta.io,resources=syncpipelines,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=sync.sisporta.io,resources=syncpipelines/status,verbs=get;patch
// +kubebuilder:rbac:groups=sync.sisporta.io,resources=syncpipelines/finalizers,verbs=update
// +kubebuilder:rbac:groups=batch,resources=cronjobs,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",namespace=system,resources=secrets,verbs=create
// +kubebuilder:rbac:groups="",namespace=system,resources=secrets,resourceNames=sisporta-operator-redis,verbs=patch;delete
