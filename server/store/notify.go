package store

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// notifyChannel is the PostgreSQL channel every write notifies at commit.
const notifyChannel = "lab_outbox"

// broadcaster wakes every subscriber; a wake-up carries no data and may be
// coalesced, because subscribers re-read the outbox from their own position.
type broadcaster struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

func newBroadcaster() *broadcaster { return &broadcaster{subs: map[chan struct{}]struct{}{}} }

func (b *broadcaster) subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	}
}

func (b *broadcaster) wake() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Subscribe returns a channel that receives a value soon after new outbox
// events may have become readable, and a function to stop. Wake-ups are a
// hint only (LISTEN/NOTIFY loses messages while disconnected): readers must
// also poll. On PostgreSQL the first call starts a LISTEN session so that
// writes of other replicas wake this one too.
func (db *DB) Subscribe() (<-chan struct{}, func()) {
	if db.postgres {
		db.listenOnce.Do(func() {
			db.listenDone = make(chan struct{})
			go db.listen()
		})
	}
	return db.notify.subscribe()
}

// listen holds a dedicated LISTEN connection, reconnecting with backoff;
// after every (re)connect it wakes everyone, since notifications sent while
// it was away are lost.
func (db *DB) listen() {
	defer close(db.listenDone)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-db.closed
		cancel()
	}()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := db.listenOnceConn(ctx)
		if ctx.Err() != nil {
			return
		}
		db.log.Warn("outbox LISTEN connection lost; retrying", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (db *DB) listenOnceConn(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, db.url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	db.notify.wake()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		db.notify.wake()
	}
}

// wake tells outbox readers that new events may be readable, after a write
// committed: this process's subscribers at once, other replicas' through
// one NOTIFY that the notifier coalesces with those of concurrent writes.
//
// Writes used to call pg_notify inside their own transaction. PostgreSQL
// serialises the commits of notifying transactions on a lock of the
// notification queue, which capped write throughput (and made 64 clients
// slower than 16: labbench's creates scenario measures it with pgbench).
// A notification is a hint only (readers poll as well), so sending it just
// after the commit loses nothing: a crash in between costs one poll period
// of latency on the other replicas.
func (db *DB) wake() {
	db.notify.wake()
	if db.postgres {
		select {
		case db.poke <- struct{}{}:
		default: // a notification is already due; it covers this write
		}
	}
}

// notifier sends one NOTIFY for each burst of writes: while one is being
// sent, further writes coalesce into the next.
func (db *DB) notifier() {
	defer close(db.notifierDone)
	failures := 0
	for {
		select {
		case <-db.closed:
			return
		case <-db.poke:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := db.sqlDB.ExecContext(ctx, "SELECT pg_notify($1, '')", notifyChannel)
		cancel()
		switch {
		case err == nil:
			failures = 0
		case failures == 0:
			failures++
			db.log.Warn("outbox NOTIFY failed; other replicas will poll", "err", err)
		default:
			failures++
		}
	}
}
