// Package v1alpha1 holds the SyncPipeline API of group sync.sisporta.io.
//
// +kubebuilder:object:generate=true
// +groupName=sync.sisporta.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every type in this package.
	GroupVersion = schema.GroupVersion{Group: "sync.sisporta.io", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this package with a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// addKnownTypes registers SyncPipeline and SyncPipelineList under
// GroupVersion, with the list and watch options every group version has:
// what controller-runtime's deprecated scheme.Builder did, without making
// the API package depend on controller-runtime.
func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &SyncPipeline{}, &SyncPipelineList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
