package controllers

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // time zones must resolve even in a distroless image

	"github.com/robfig/cron/v3"
)

// cronSchedule is a parsed spec.schedule in its time zone.
type cronSchedule struct {
	sched cron.Schedule
	loc   *time.Location
}

// parseSchedule accepts what the CronJob controller accepts: five fields or
// a macro, in an IANA time zone. Without one, the CronJob controller uses
// kube-controller-manager's zone, which is UTC in practice (its images carry
// no local zone): the times are computed in UTC, never in the zone of the
// operator's pod, so status.nextScheduleTime is when the run will start.
func parseSchedule(schedule string, timeZone *string) (*cronSchedule, error) {
	loc := time.UTC
	if timeZone != nil && *timeZone != "" {
		tz := *timeZone
		if strings.EqualFold(tz, "Local") {
			return nil, fmt.Errorf("spec.timeZone %q is not allowed: name an IANA zone such as Europe/Lisbon or UTC", tz)
		}
		l, err := time.LoadLocation(tz)
		if err != nil {
			return nil, fmt.Errorf("spec.timeZone %q is not a known IANA time zone: use a name such as Europe/Lisbon or UTC", tz)
		}
		loc = l
	}
	if strings.Contains(schedule, "TZ=") {
		return nil, fmt.Errorf("spec.schedule %q sets a time zone: remove TZ= and set spec.timeZone instead", schedule)
	}
	s, err := cron.ParseStandard(schedule)
	if err != nil {
		return nil, fmt.Errorf("spec.schedule %q is not a valid cron expression (%v): write minute hour day-of-month month day-of-week, e.g. \"*/15 * * * *\"", schedule, err)
	}
	return &cronSchedule{sched: s, loc: loc}, nil
}

// next is the first scheduled time after t, or false when the schedule never
// fires again (robfig/cron gives up after five years, e.g. for 30 February).
func (c *cronSchedule) next(t time.Time) (time.Time, bool) {
	n := c.sched.Next(t.In(c.loc))
	return n.UTC(), !n.IsZero()
}
