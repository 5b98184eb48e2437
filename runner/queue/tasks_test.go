package queue_test

import (
	"testing"

	"github.com/sisporta/sisporta/runner/queue"
)

// Task IDs are read back field by field: an entity named like a run ID
// ("12") belongs to its own run, not to run 12 (a match on "/12/" inside
// the ID would claim the dead batches of every run of entity 12).
func TestParseTaskIDReadsFieldsNotSubstrings(t *testing.T) {
	cases := []struct {
		id   string
		want queue.TaskRef
	}{
		{queue.BatchTaskID("sales/erp", 7, "12", 3), queue.TaskRef{Pipeline: "sales/erp", Run: 7, Entity: "12", Seq: 3}},
		{queue.BatchTaskID("sales/erp", 12, "7", 12), queue.TaskRef{Pipeline: "sales/erp", Run: 12, Entity: "7", Seq: 12}},
		{queue.FinalizeTaskID("sales/erp", 7, "12"), queue.TaskRef{Pipeline: "sales/erp", Run: 7, Entity: "12", Seq: -1}},
		{queue.BatchTaskID("12/12", 1, "finalize", 0), queue.TaskRef{Pipeline: "12/12", Run: 1, Entity: "finalize", Seq: 0}},
	}
	for _, c := range cases {
		got, ok := queue.ParseTaskID(c.id)
		if !ok || got != c.want {
			t.Errorf("ParseTaskID(%q) = %+v, %v; want %+v", c.id, got, ok, c.want)
		}
	}
	for _, id := range []string{"", "sales/erp/7/items", "sales/erp/x/items/1", "sales/erp/7/items/x", "a/b/7/items/1/2", "some-other-task"} {
		if ref, ok := queue.ParseTaskID(id); ok {
			t.Errorf("ParseTaskID(%q) = %+v, want not a Sisporta task ID", id, ref)
		}
	}
	if s := (queue.TaskRef{Entity: "12", Seq: -1}).String(); s != "entity 12, finalize step" {
		t.Errorf("finalize ref reads %q", s)
	}
}
