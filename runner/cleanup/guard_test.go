package cleanup

import (
	"strings"
	"testing"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

func pct(v int32) *int32 { return &v }

func TestDecide(t *testing.T) {
	del := syncv1alpha1.CleanupSpec{Mode: syncv1alpha1.CleanupDelete, MaxDeletePercent: pct(20)}
	cases := []struct {
		name                  string
		spec                  syncv1alpha1.CleanupSpec
		read, target, deletes int64
		result                syncv1alpha1.CleanupResult
		deletesRows           bool
		msg                   string
	}{
		{"nothing to delete", del, 100, 100, 0, syncv1alpha1.CleanupSucceeded, false, ""},
		{"within the limit", del, 80, 100, 20, syncv1alpha1.CleanupSucceeded, true, ""},
		{"just above the limit", del, 79, 100, 21, syncv1alpha1.CleanupGuardTripped, false, "21 of 100"},
		{"empty source read", del, 0, 100, 100, syncv1alpha1.CleanupGuardTripped, false, "no rows"},
		{"empty read, empty target", del, 0, 0, 0, syncv1alpha1.CleanupSucceeded, false, ""},
		{"100% allowed still refuses an empty read", syncv1alpha1.CleanupSpec{Mode: syncv1alpha1.CleanupDelete, MaxDeletePercent: pct(100)}, 0, 5, 5, syncv1alpha1.CleanupGuardTripped, false, "no rows"},
		{"0% allows nothing", syncv1alpha1.CleanupSpec{Mode: syncv1alpha1.CleanupDelete, MaxDeletePercent: pct(0)}, 99, 100, 1, syncv1alpha1.CleanupGuardTripped, false, "maxDeletePercent 0%"},
		{"dry run", syncv1alpha1.CleanupSpec{Mode: syncv1alpha1.CleanupDelete, DryRun: true}, 95, 100, 5, syncv1alpha1.CleanupDryRun, false, "5 rows would be deleted"},
		{"off", syncv1alpha1.CleanupSpec{Mode: syncv1alpha1.CleanupOff}, 95, 100, 5, syncv1alpha1.CleanupSkipped, false, "Off"},
		{"soft delete", syncv1alpha1.CleanupSpec{Mode: syncv1alpha1.CleanupSoftDelete, MaxDeletePercent: pct(10)}, 95, 100, 5, syncv1alpha1.CleanupSucceeded, true, ""},
		{"default limit is 20%", syncv1alpha1.CleanupSpec{Mode: syncv1alpha1.CleanupDelete}, 70, 100, 30, syncv1alpha1.CleanupGuardTripped, false, "maxDeletePercent 20%"},
	}
	for _, c := range cases {
		d := Decide(c.spec, c.read, c.target, c.deletes)
		if d.Result != c.result || d.Delete != c.deletesRows || !strings.Contains(d.Message, c.msg) {
			t.Errorf("%s: %+v; want %s delete=%v message containing %q", c.name, d, c.result, c.deletesRows, c.msg)
		}
	}
}
