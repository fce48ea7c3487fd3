package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// LabHistory returns what is known of a lab's life, oldest first: its
// recorded phase transitions and the change events the outbox still keeps.
// A deleted lab's history is served from its events while they are kept.
func (tx *Tx) LabHistory(ctx context.Context, key api.Key) (*api.LabEventList, error) {
	var rows []eventRow
	err := tx.g.WithContext(ctx).
		Where("uid = (SELECT uid FROM outbox WHERE namespace = ? AND name = ? ORDER BY id DESC LIMIT 1)", key.Namespace, key.Name).
		Order("position, id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	lab, err := tx.GetLab(ctx, key)
	if err != nil && !api.IsNotFound(err) {
		return nil, err
	}
	if lab == nil && len(rows) == 0 {
		return nil, api.Errorf(api.ENOTFOUND, "lab instance %s not found", key)
	}
	out := &api.LabEventList{Items: []api.LabEvent{}}
	var last *api.LabInstanceRequest
	for i := range rows {
		ev, err := rows[i].event()
		if err != nil {
			return nil, err
		}
		if lab != nil && ev.UID != lab.Metadata.UID {
			continue // an earlier lab of the same name
		}
		last = ev.Object
		out.Items = append(out.Items, api.LabEvent{Time: ev.Time, Type: ev.Type, Message: ev.Message,
			To: ev.Object.Status.Phase, ResourceVersion: ev.Object.Metadata.ResourceVersion})
	}
	if lab != nil {
		last = lab
	}
	if last != nil {
		for _, t := range last.Status.Transitions {
			out.Items = append(out.Items, api.LabEvent{Time: t.At, Type: api.EventTypeTransition, From: t.From, To: t.To, Reason: t.Reason})
		}
	}
	slices.SortStableFunc(out.Items, func(a, b api.LabEvent) int { return a.Time.Compare(b.Time) })
	return out, nil
}
