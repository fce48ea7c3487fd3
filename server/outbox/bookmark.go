package outbox

import (
	"context"

	"github.com/labrm/terraform-provider-lab/server/store"
)

// Group is a set of bookmarks with one more, Name, kept at the lowest
// position of its Members: the position every member has reached (the
// CloudEvents sinks' aggregate). A member seen for the first time starts at
// the group's position rather than at Config.Start, so that a group formed
// around a lone bookmark keeps its place. Every transaction that locks more
// than one of these rows locks the group's first, so they cannot deadlock.
type Group struct {
	Name    string
	Members []string // every member's bookmark name, this follower's included
}

// bookmark is a follower's row of watcher_bookmarks and its group.
type bookmark struct {
	name  string
	group Group
}

// lock returns the bookmark's position, locked until tx ends, creating it
// at initial (a group member: at the group's position, itself created at
// initial).
func (b bookmark) lock(ctx context.Context, tx *store.Tx, initial int64) (int64, error) {
	if b.group.Name != "" {
		agg, err := tx.LockBookmark(ctx, b.group.Name, initial)
		if err != nil {
			return 0, err
		}
		initial = agg
	}
	return tx.LockBookmark(ctx, b.name, initial)
}

// advance moves the bookmark forward to pos, never back (another instance
// may have gone further), and raises the group's to the lowest member.
func (b bookmark) advance(ctx context.Context, tx *store.Tx, pos int64) error {
	var agg int64
	var err error
	if b.group.Name != "" {
		if agg, err = tx.LockBookmark(ctx, b.group.Name, pos); err != nil {
			return err
		}
	}
	cur, err := tx.LockBookmark(ctx, b.name, pos)
	if err != nil {
		return err
	}
	if pos > cur {
		if err := tx.SetBookmark(ctx, b.name, pos); err != nil {
			return err
		}
	}
	if b.group.Name == "" {
		return nil
	}
	low := max(pos, cur)
	for _, m := range b.group.Members {
		if m == b.name {
			continue
		}
		p, err := tx.LockBookmark(ctx, m, agg)
		if err != nil {
			return err
		}
		low = min(low, p)
	}
	if low > agg {
		return tx.SetBookmark(ctx, b.group.Name, low)
	}
	return nil
}

// initial is where a new bookmark starts.
func initial(start Start, floor, current int64) int64 {
	if start == StartAtEnd {
		return max(current, floor)
	}
	return floor
}

// toFloor moves the bookmark up to floor, once OnExpired has run.
func (f *Follower) toFloor(db *store.DB, b bookmark) func(ctx context.Context, floor int64) error {
	return func(ctx context.Context, floor int64) error {
		err := db.InTx(ctx, func(tx *store.Tx) error {
			pos, err := b.lock(ctx, tx, floor)
			if err != nil || pos >= floor {
				return err
			}
			return b.advance(ctx, tx, floor)
		})
		if err != nil {
			return err
		}
		f.advanced(floor)
		return nil
	}
}
