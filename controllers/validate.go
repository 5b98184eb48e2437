package controllers

import (
	"context"
	"fmt"
	"strings"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// keepsLastValid tells what an invalid change does to a running pipeline.
const keepsLastValid = " (the extractor and workers keep their last valid settings until this is fixed)"

// reconcileValidate refuses what the API server's rules cannot express
// (unique column names, schedules that parse, names that fit the objects
// derived from them) before anything is created from the spec.
func (r *Reconciler) reconcileValidate(_ context.Context, st *pipelineState) error {
	p := st.p
	if n := len(p.Name); n > maxPipelineNameLength {
		return st.fail(syncv1alpha1.ReasonInvalidSpec, fmt.Sprintf("metadata.name is %d characters long; the CronJob named after it may have at most 52, so a pipeline name may have at most %d: recreate the pipeline under a shorter name", n, maxPipelineNameLength), false)
	}
	if err := p.Validate(); err != nil {
		return st.fail(syncv1alpha1.ReasonInvalidSpec, "the spec is invalid: "+strings.ReplaceAll(err.Error(), "\n", "; ")+keepsLastValid, false)
	}
	s, err := parseSchedule(p.Spec.Schedule, p.Spec.TimeZone)
	if err != nil {
		return st.fail(syncv1alpha1.ReasonInvalidSchedule, err.Error()+keepsLastValid, false)
	}
	st.schedule = s
	return nil
}
