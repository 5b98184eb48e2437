package controllers

import (
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"
)

func TestParseScheduleAndNext(t *testing.T) {
	s, err := parseSchedule("30 2 * * *", ptr.To("Europe/Lisbon"))
	if err != nil {
		t.Fatal(err)
	}
	// 2026-07-01 is summer time in Lisbon (UTC+1): 02:30 there is 01:30 UTC.
	next, ok := s.next(time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC))
	if !ok || !next.Equal(time.Date(2026, 7, 1, 1, 30, 0, 0, time.UTC)) {
		t.Errorf("next = %s, want 2026-07-01T01:30:00Z", next)
	}
	if s, err = parseSchedule("@hourly", nil); err != nil {
		t.Fatal(err)
	}
	if next, _ := s.next(time.Date(2026, 7, 1, 0, 10, 0, 0, time.UTC)); next.Minute() != 0 || next.Hour() != 1 {
		t.Errorf("@hourly next = %s", next)
	}

	for _, tc := range []struct {
		schedule, tz, want string
	}{
		{"61 * * * *", "", "not a valid cron expression"},
		{"*/15 * * * *", "Mars/Olympus_Mons", "not a known IANA time zone"},
		{"*/15 * * * *", "Local", "not allowed"},
		{"TZ=UTC */15 * * * *", "", "remove TZ="},
	} {
		var tz *string
		if tc.tz != "" {
			tz = ptr.To(tc.tz)
		}
		_, err := parseSchedule(tc.schedule, tz)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseSchedule(%q, %q) = %v, want an error saying %q", tc.schedule, tc.tz, err, tc.want)
		}
	}
}

// TestScheduleWithoutTimeZoneIsUTC: without spec.timeZone the CronJob
// controller reads the schedule in kube-controller-manager's zone, UTC in
// practice; the operator's own zone (a TZ set on its pod, a node's
// /etc/localtime) must not move nextScheduleTime.
func TestScheduleWithoutTimeZoneIsUTC(t *testing.T) {
	local := time.Local
	time.Local = time.FixedZone("UTC+05:30", 5*3600+1800)
	t.Cleanup(func() { time.Local = local })

	s, err := parseSchedule("0 3 * * *", nil)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	next, ok := s.next(from)
	if want := time.Date(2026, 7, 1, 3, 0, 0, 0, time.UTC); !ok || !next.Equal(want) {
		t.Errorf("next = %s, want %s: 03:00 UTC, not 03:00 in the operator's zone", next, want)
	}
	if s, err = parseSchedule("0 3 * * *", ptr.To("")); err != nil {
		t.Fatal(err)
	}
	if next, _ := s.next(from); next.Hour() != 3 {
		t.Errorf("an empty spec.timeZone: next = %s, want 03:00 UTC", next)
	}
}
