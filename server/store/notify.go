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
