package leader

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/labrm/terraform-provider-lab/internal/api"
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
	key int32 // second half of the two-key advisory lock

	mu      sync.Mutex
	leading bool
	term    store.Term
	changes int64
}

// lockClass is the first half of the two-key advisory lock, so our lock
// cannot collide with single-key locks other software takes.
const lockClass int32 = 0x6c6162 // "lab"

// New validates cfg and returns an elector. Leadership starts with Run.
func New(db *store.DB, cfg Config) (*Elector, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	h := fnv.New32a()
	h.Write([]byte(cfg.LockName))
	return &Elector{db: db, cfg: cfg, key: int32(h.Sum32() & 0x7fffffff)}, nil
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
		wait := e.cfg.RetryPeriod
		if led {
			wait = e.cfg.LeaseDuration
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

func (e *Elector) runAlone(ctx context.Context) error {
	backoff := e.cfg.RetryPeriod
	for {
		err := e.leadAlone(ctx)
		if ctx.Err() != nil {
			return nil
		}
		e.cfg.Logger.Warn("leader work stopped; starting again", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Minute)
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

// campaign holds one lock session: it tries for the lock every retry
// period and, once it has it, leads until the session or the work fails.
// led reports whether it led.
func (e *Elector) campaign(ctx context.Context) (led bool, err error) {
	conn, err := e.connect(ctx)
	if err != nil {
		return false, fmt.Errorf("connect lock session: %w", err)
	}
	defer conn.Close(context.Background())
	var pid int32
	for {
		var got bool
		qctx, cancel := context.WithTimeout(ctx, e.cfg.RetryPeriod)
		err := conn.QueryRow(qctx, "SELECT pg_try_advisory_lock($1, $2), pg_backend_pid()", lockClass, e.key).Scan(&got, &pid)
		cancel()
		if err != nil {
			return false, fmt.Errorf("try lock: %w", err)
		}
		if got {
			break
		}
		select {
		case <-ctx.Done():
			return false, nil
		case <-time.After(e.cfg.RetryPeriod):
		}
	}
	err = e.lead(ctx, conn, pid)
	// Free the lock now rather than when the server notices: a standby
	// takes over within one retry period.
	uctx, cancel := context.WithTimeout(context.Background(), e.cfg.RetryPeriod)
	defer cancel()
	if _, uerr := conn.Exec(uctx, "SELECT pg_advisory_unlock($1, $2)", lockClass, e.key); uerr != nil {
		e.cfg.Logger.Debug("unlock", "err", uerr)
	}
	return true, err
}

// connect opens the dedicated lock session. idle_session_timeout is the
// lease: a leader that stops heartbeating loses its session and the lock.
func (e *Elector) connect(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(e.db.PostgresURL())
	if err != nil {
		return nil, err
	}
	cfg.RuntimeParams["application_name"] = truncate("labd-leader:"+e.cfg.Identity, 63)
	cfg.RuntimeParams["idle_session_timeout"] = strconv.FormatInt(e.cfg.LeaseDuration.Milliseconds(), 10)
	keepalive := max(e.cfg.RetryPeriod/time.Second, 1)
	cfg.RuntimeParams["tcp_keepalives_idle"] = strconv.FormatInt(int64(keepalive), 10)
	cfg.RuntimeParams["tcp_keepalives_interval"] = strconv.FormatInt(int64(keepalive), 10)
	cfg.RuntimeParams["tcp_keepalives_count"] = "3"
	cctx, cancel := context.WithTimeout(ctx, e.cfg.RenewDeadline)
	defer cancel()
	return pgx.ConnectConfig(cctx, cfg)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// lead starts a term and runs the work while heartbeats succeed.
func (e *Elector) lead(ctx context.Context, conn *pgx.Conn, pid int32) error {
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
			err := e.heartbeat(ctx, conn, pid)
			if err == nil {
				lastOK = time.Now()
				continue
			}
			if errors.Is(err, errLockLost) || time.Since(lastOK) >= e.cfg.RenewDeadline {
				stopWork()
				<-workDone
				return fmt.Errorf("leadership lost: %w", err)
			}
			e.cfg.Logger.Warn("leader heartbeat failed", "err", err, "since_last_ok", time.Since(lastOK))
		}
	}
}

var errLockLost = errors.New("lock session no longer holds the lock")

// heartbeat checks that the session that took the lock is the one that
// answers and that it still holds the lock.
func (e *Elector) heartbeat(ctx context.Context, conn *pgx.Conn, pid int32) error {
	hctx, cancel := context.WithTimeout(ctx, e.cfg.RetryPeriod)
	defer cancel()
	var nowPid int32
	var held bool
	err := conn.QueryRow(hctx, `SELECT pg_backend_pid(), EXISTS (
		SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()
		AND classid = $1::int::oid AND objid = $2::int::oid AND objsubid = 2)`, lockClass, e.key).Scan(&nowPid, &held)
	if err != nil {
		if conn.IsClosed() {
			return fmt.Errorf("%w: %v", errLockLost, err)
		}
		return err
	}
	if nowPid != pid || !held {
		return fmt.Errorf("%w (pid %d, now %d, held %v)", errLockLost, pid, nowPid, held)
	}
	return nil
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
	held := true
	if e.db.IsPostgres() {
		err := e.db.InTx(ctx, func(tx *store.Tx) error {
			return tx.Raw(ctx, &held, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
				AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
				AND classid = ?::int::oid AND objid = ?::int::oid AND objsubid = 2)`, lockClass, e.key)
		})
		if err != nil {
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
