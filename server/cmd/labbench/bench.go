package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type options struct {
	labd, provider, terraform string
	adminURL, pgbin           string
	image, dockerHost         string
	short                     bool
	out, profileDir           string
	controllerLabs            int      // labs in the controller scenario (its goal is for 100,000)
	labdArgs                  []string // extra labd flags for every scenario, e.g. --workers 16
}

// bench is one labbench run: its options, its log and the rows measured.
type bench struct {
	options
	log     io.Writer
	started time.Time

	mu   sync.Mutex
	rows []row
	dbs  int
}

// row is one line of the results table.
type row struct {
	Group    string
	What     string
	Project  string // what labd did
	Baseline string // what the baseline did
	Ratio    string // project / baseline, in the sense the goal states
	Goal     string
	Met      string // yes, no, or "" when there is no goal
	Note     string
}

func (b *bench) add(r row) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rows = append(b.rows, r)
	b.logf("RESULT %s | %s | %s | %s | %s | %s | %s", r.What, r.Project, r.Baseline, r.Ratio, r.Goal, r.Met, r.Note)
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "[labbench %s] %s\n", time.Since(b.started).Round(100*time.Millisecond), fmt.Sprintf(format, args...))
}

// table renders the rows as markdown.
func (b *bench) table() string {
	var s strings.Builder
	fmt.Fprintf(&s, "\n%s\n\n", b.machine())
	s.WriteString("| scenario | what | labd | baseline | ratio | goal | met | note |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range b.rows {
		fmt.Fprintf(&s, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Group, r.What, r.Project, r.Baseline, r.Ratio, r.Goal, r.Met, r.Note)
	}
	return s.String()
}

// machine describes where and under what load the numbers were taken.
func (b *bench) machine() string {
	load := "?"
	if l, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(l))[:3], " ")
	}
	size := "full"
	if b.short {
		size = "short (-short: sizes too small to mean anything)"
	}
	return fmt.Sprintf("%d CPUs, load average %s at %s, %s sizes, %s", runtime.NumCPU(), load, time.Now().UTC().Format(time.RFC3339), size, runtime.Version())
}

func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

// check fails early when a tool the scenarios need is missing.
func (b *bench) check(ctx context.Context) error {
	for _, p := range []string{b.labd, filepath.Join(b.pgbin, "pgbench"), filepath.Join(b.pgbin, "createdb"), filepath.Join(b.pgbin, "dropdb")} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("need %s: %w (make build; apt-get install postgresql-15 for pgbench)", p, err)
		}
	}
	return nil
}

// pgEnv is the libpq environment that reaches the admin URL, for the
// PostgreSQL command-line tools.
func (b *bench) pgEnv() ([]string, error) {
	u, err := url.Parse(b.adminURL)
	if err != nil {
		return nil, fmt.Errorf("database url: %w", err)
	}
	env := os.Environ()
	env = append(env, "PGHOST="+u.Hostname(), "PGPORT="+cmpOr(u.Port(), "5432"), "PGUSER="+u.User.Username(), "PGDATABASE="+strings.TrimPrefix(u.Path, "/"))
	if p, ok := u.User.Password(); ok {
		env = append(env, "PGPASSWORD="+p)
	}
	if m := u.Query().Get("sslmode"); m != "" {
		env = append(env, "PGSSLMODE="+m)
	}
	return env, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// database creates a fresh database and returns its URL; it is dropped
// when the run ends (or at once by the returned func).
func (b *bench) database(ctx context.Context, prefix string) (string, func(), error) {
	b.mu.Lock()
	b.dbs++
	name := fmt.Sprintf("labbench_%s_%d_%d", prefix, os.Getpid(), b.dbs)
	b.mu.Unlock()
	env, err := b.pgEnv()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(b.pgbin, "createdb"), name)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("createdb %s: %v: %s", name, err, out)
	}
	u, _ := url.Parse(b.adminURL)
	u.Path = "/" + name
	drop := func() {
		cmd := exec.Command(filepath.Join(b.pgbin, "dropdb"), "--force", "--if-exists", name)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			b.logf("dropdb %s: %v: %s", name, err, out)
		}
	}
	return u.String(), drop, nil
}

// labd is one labd process started by the bench.
type labd struct {
	cmd   *exec.Cmd
	base  string // http://127.0.0.1:port
	pprof string // host:port, or ""
	logs  *os.File
	done  chan struct{}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startLabd starts labd with args (plus --listen and, with profiles,
// --pprof-listen) and waits until it answers /api/status/ready.
func (b *bench) startLabd(ctx context.Context, dbURL string, args ...string) (*labd, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	pport, err := freePort()
	if err != nil {
		return nil, err
	}
	logs, err := os.CreateTemp("", "labbench-labd-*.log")
	if err != nil {
		return nil, err
	}
	l := &labd{base: fmt.Sprintf("http://127.0.0.1:%d", port), pprof: fmt.Sprintf("127.0.0.1:%d", pport), logs: logs, done: make(chan struct{})}
	all := append([]string{"--database-url", dbURL, "--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--pprof-listen", l.pprof, "--docker-host", b.dockerHost}, append(slices.Clone(b.labdArgs), args...)...)
	l.cmd = exec.Command(b.labd, all...)
	l.cmd.Stdout, l.cmd.Stderr = logs, logs
	if err := l.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { l.cmd.Wait(); close(l.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-l.done:
			return nil, fmt.Errorf("labd exited at start-up: %s (log %s)", l.cmd.ProcessState, logs.Name())
		default:
		}
		if resp, err := http.Get(l.base + "/api/status/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return l, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			l.stop()
			return nil, fmt.Errorf("labd not healthy after 60s (log %s)", logs.Name())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits (SIGKILL after 30 s).
func (l *labd) stop() {
	l.signal(syscall.SIGCONT)
	l.signal(syscall.SIGTERM)
	select {
	case <-l.done:
	case <-time.After(30 * time.Second):
		l.cmd.Process.Kill()
		<-l.done
	}
	l.logs.Close()
	os.Remove(l.logs.Name())
}

func (l *labd) signal(s syscall.Signal) {
	if l.cmd.Process != nil {
		l.cmd.Process.Signal(s)
	}
}

// cpu is the process's user+system CPU time so far.
func (l *labd) cpu() time.Duration { return procCPU(l.cmd.Process.Pid) }

func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(fields) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// profile saves a CPU profile of labd taken while fn runs, if asked to.
func (b *bench) profile(ctx context.Context, l *labd, name string, seconds int, fn func() error) error {
	if b.profileDir == "" {
		return fn()
	}
	done := make(chan error, 1)
	go func() {
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", l.pprof, seconds))
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		if err := os.MkdirAll(b.profileDir, 0o755); err != nil {
			done <- err
			return
		}
		f, err := os.Create(filepath.Join(b.profileDir, name+".pprof"))
		if err != nil {
			done <- err
			return
		}
		_, err = io.Copy(f, resp.Body)
		f.Close()
		done <- err
	}()
	err := fn()
	if perr := <-done; perr != nil {
		b.logf("profile %s: %v", name, perr)
	} else {
		b.logf("profile saved: %s", filepath.Join(b.profileDir, name+".pprof"))
	}
	return err
}

// lines calls fn for each line of r.
func lines(r io.Reader, fn func(string)) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fn(sc.Text())
	}
}

// mustPath is the path of a URL that the bench made itself.
func mustPath(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u.Path
}
