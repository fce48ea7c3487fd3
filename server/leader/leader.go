package leader

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/internal/wait"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// Config mirrors the design document's LeaderElectionConfig.
type Config struct {
	LockName      string // default "lab-instance-controller-leader"
	Identity      string // default the host name
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration
	Logger        *slog.Logger
	// Lead runs the leader's work; its ctx is cancelled when leadership is
	// lost or the elector stops. An error returned with api.EFENCED means a
	// newer term exists: the replica steps down.
	Lead func(ctx context.Context, term store.Term) error
	// OnChange is called with true when this replica becomes leader and
	// with false when it stops being leader (metrics, logs).
	OnChange func(leading bool)
}

// Defaults, as in client-go and the design document.
const (
	DefaultLockName      = "lab-instance-controller-leader"
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

func (c *Config) setDefaults() error {
	host, _ := os.Hostname()
	c.LockName = cmp.Or(c.LockName, DefaultLockName)
	c.Identity = cmp.Or(c.Identity, host, "labd")
	c.LeaseDuration = cmp.Or(c.LeaseDuration, DefaultLeaseDuration)
	c.RenewDeadline = cmp.Or(c.RenewDeadline, DefaultRenewDeadline)
	c.RetryPeriod = cmp.Or(c.RetryPeriod, DefaultRetryPeriod)
	c.Logger = cmp.Or(c.Logger, slog.New(slog.DiscardHandler))
	if c.Lead == nil {
		c.Lead = func(ctx context.Context, _ store.Term) error { <-ctx.Done(); return nil }
	}
	if c.OnChange == nil {
		c.OnChange = func(bool) {}
	}
	if c.LeaseDuration <= c.RenewDeadline {
		return fmt.Errorf("leader election: lease_duration (%s) must be greater than renew_deadline (%s)", c.LeaseDuration, c.RenewDeadline)
	}
	if float64(c.RenewDeadline) <= 1.2*float64(c.RetryPeriod) {
		return fmt.Errorf("leader election: renew_deadline (%s) must be greater than 1.2 × retry_period (%s)", c.RenewDeadline, c.RetryPeriod)
	}
	return nil
}

// Elector campaigns for leadership and runs Config.Lead while it has it.
type Elector struct {
	db  *store.DB
	cfg Config

	mu      sync.Mutex
	leading bool
	term    store.Term
	changes int64
}

// New validates cfg and returns an elector. Leadership starts with Run.
func New(db *store.DB, cfg Config) (*Elector, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	return &Elector{db: db, cfg: cfg}, nil
}

// Identity is this replica's identity.
func (e *Elector) Identity() string { return e.cfg.Identity }

// IsLeader reports whether this replica leads now.
func (e *Elector) IsLeader() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leading
}

// Changes counts how often this replica gained or lost leadership.
func (e *Elector) Changes() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.changes
}

func (e *Elector) setLeading(leading bool, term store.Term) {
	e.mu.Lock()
	e.leading, e.term = leading, term
	e.changes++
	e.mu.Unlock()
	if leading {
		e.cfg.Logger.Info("became leader", "identity", e.cfg.Identity, "epoch", term.Epoch)
	} else {
		e.cfg.Logger.Info("stopped leading", "identity", e.cfg.Identity, "epoch", term.Epoch)
	}
	e.cfg.OnChange(leading)
}

// Run campaigns until ctx ends. On PostgreSQL it alternates between
// standby and leader; on SQLite it leads at once. When ctx ends it stops
// the leader work, then releases the lock so a standby takes over within
// one retry period.
func (e *Elector) Run(ctx context.Context) error {
	if !e.db.IsPostgres() {
		return e.runAlone(ctx)
	}
	for {
		led, err := e.campaign(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			e.cfg.Logger.Warn("leader election", "err", err)
		}
		// A replica that just lost leadership against its will (its
		// session died, its heartbeats failed, a newer term appeared)
		// waits a lease before campaigning again, so that a healthy
		// standby takes over rather than the replica that just failed.
		pause := e.cfg.RetryPeriod
		if led {
			pause = e.cfg.LeaseDuration
		}
		if wait.Sleep(ctx, pause) != nil {
			return nil
		}
	}
}

func (e *Elector) runAlone(ctx context.Context) error {
	backoff := wait.Backoff{Min: e.cfg.RetryPeriod, Max: time.Minute}
	for {
		err := e.leadAlone(ctx)
		if ctx.Err() != nil {
			return nil
		}
		d := backoff.Next()
		e.cfg.Logger.Warn("leader work stopped; starting again", "err", err, "retry_in", d)
		if wait.Sleep(ctx, d) != nil {
			return nil
		}
	}
}

// leadAlone starts a term and runs the work until it ends.
func (e *Elector) leadAlone(ctx context.Context) error {
	term, err := e.db.StartTerm(ctx, e.cfg.Identity)
	if err != nil {
		return err
	}
	e.setLeading(true, term)
	defer e.setLeading(false, term)
	if err := e.cfg.Lead(ctx, term); err != nil {
		return err
	}
	return errors.New("leader work ended")
}

// campaign holds one lock session: it waits for the lock and, once it has
// it, leads until the session or the work fails.
// led reports whether it led.
func (e *Elector) campaign(ctx context.Context) (led bool, err error) {
	s, err := e.openSession(ctx)
	if err != nil {
		return false, err
	}
	defer s.Close(context.Background())
	// Wait in the server's lock queue: it grants the lock the moment the
	// holder releases it or its session ends, rather than at a standby's
	// next try. Each wait is bounded (LockWait) so that a dead connection
	// is noticed; shutting down cancels it.
	for {
		got, err := s.Lock(ctx)
		if ctx.Err() != nil {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if got {
			break
		}
	}
	err = e.lead(ctx, s)
	// Free the lock now rather than when the server notices: a standby
	// takes over within one retry period.
	uctx, cancel := context.WithTimeout(context.Background(), e.cfg.RetryPeriod)
	defer cancel()
	if uerr := s.Unlock(uctx); uerr != nil {
		e.cfg.Logger.Debug("unlock", "err", uerr)
	}
	return true, err
}

// openSession opens the dedicated lock session. Its idle_session_timeout
// is the lease: a leader that stops heartbeating loses its session and the
// lock. TCP keepalives probe every retry period.
func (e *Elector) openSession(ctx context.Context) (*store.LockSession, error) {
	cctx, cancel := context.WithTimeout(ctx, e.cfg.RenewDeadline)
	defer cancel()
	return e.db.OpenLockSession(cctx, store.LockSessionConfig{
		Name:        e.cfg.LockName,
		Identity:    e.cfg.Identity,
		IdleTimeout: e.cfg.LeaseDuration,
		Keepalive:   e.cfg.RetryPeriod,
		LockWait:    e.cfg.LeaseDuration,
	})
}

// lead starts a term and runs the work while heartbeats succeed. A lost
// lock stops the work at once; other heartbeat failures are tolerated for
// up to the renew deadline.
func (e *Elector) lead(ctx context.Context, s *store.LockSession) error {
	term, err := e.db.StartTerm(ctx, e.cfg.Identity)
	if err != nil {
		return fmt.Errorf("start term: %w", err)
	}
	e.setLeading(true, term)
	defer e.setLeading(false, term)

	workCtx, stopWork := context.WithCancel(ctx)
	defer stopWork()
	workDone := make(chan error, 1)
	go func() { workDone <- e.cfg.Lead(workCtx, term) }()

	lastOK := time.Now()
	tick := time.NewTicker(e.cfg.RetryPeriod)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			stopWork()
			<-workDone
			return nil
		case err := <-workDone:
			if api.ErrorCode(err) == api.EFENCED {
				return fmt.Errorf("a newer leader term exists: %w", err)
			}
			if err != nil {
				return fmt.Errorf("leader work: %w", err)
			}
			return errors.New("leader work ended")
		case <-tick.C:
			hctx, cancel := context.WithTimeout(ctx, e.cfg.RetryPeriod)
			err := s.Heartbeat(hctx)
			cancel()
			if err == nil {
				lastOK = time.Now()
				continue
			}
			if errors.Is(err, store.ErrLockLost) || time.Since(lastOK) >= e.cfg.RenewDeadline {
				stopWork()
				<-workDone
				return fmt.Errorf("leadership lost: %w", err)
			}
			e.cfg.Logger.Warn("leader heartbeat failed", "err", err, "since_last_ok", time.Since(lastOK))
		}
	}
}

// Status answers GET /api/status/leader: this replica's view and, from the
// database, the current term's holder while someone holds the lock.
func (e *Elector) Status(ctx context.Context) (api.LeaderStatus, error) {
	e.mu.Lock()
	st := api.LeaderStatus{IsLeader: e.leading, Identity: e.cfg.Identity}
	e.mu.Unlock()
	term, err := e.db.CurrentTerm(ctx)
	if err != nil {
		return st, err
	}
	held := true // SQLite: the one replica leads while it runs
	if e.db.IsPostgres() {
		if held, err = e.db.LockHeld(ctx, e.cfg.LockName); err != nil {
			return st, err
		}
	}
	if held {
		st.Leader, st.Epoch, st.LeaderSince = term.Holder, term.Epoch, term.AcquiredAt
	} else {
		st.Epoch = term.Epoch
	}
	return st, nil
}
