package api

import "time"

// RequestStart asks the controller to start a PENDING lab now, whatever its
// scheduled_start_time (capacity permitting). The request is the time in the
// AnnotationStartRequested annotation, which the controller acts on and
// removes, so that it survives a leader change; asking again keeps the first
// time and changes nothing. Any other phase, or a lab being deleted, is
// ECONFLICT.
func RequestStart(l *LabInstanceRequest, now time.Time) error {
	return request(l, now, PhasePending, "started", AnnotationStartRequested)
}

// RequestStop asks the controller to stop a RUNNING lab, which ends
// COMPLETED once its container is down; like RequestStart, through the
// AnnotationStopRequested annotation.
func RequestStop(l *LabInstanceRequest, now time.Time) error {
	return request(l, now, PhaseRunning, "stopped", AnnotationStopRequested)
}

func request(l *LabInstanceRequest, now time.Time, from Phase, verb, annotation string) error {
	if l.Metadata.DeletionTimestamp != nil {
		return Errorf(ECONFLICT, "lab %s is being deleted", l.Key())
	}
	if l.Status.Phase != from {
		return Errorf(ECONFLICT, "lab %s is %s: only a %s lab can be %s", l.Key(), l.Status.Phase, from, verb)
	}
	if _, ok := l.Metadata.Annotations[annotation]; ok {
		return nil // asked already: keep the first time, write nothing
	}
	if l.Metadata.Annotations == nil {
		l.Metadata.Annotations = StringMap{}
	}
	l.Metadata.Annotations[annotation] = now.UTC().Format(time.RFC3339)
	return nil
}
