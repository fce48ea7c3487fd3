package servertest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/server/docker"
)

// Private services, for fault tests that stop and restart them: the
// shared test PostgreSQL and dockerd serve every other test and must never
// be stopped. Each private service lives in its own temporary directory
// and is gone when the test ends.

// PrivatePostgres is a throw-away PostgreSQL cluster of the test's own,
// on its own port.
type PrivatePostgres struct {
	t         testing.TB
	bin, dir  string
	port      int
	URL       string // postgres://postgres@127.0.0.1:PORT/postgres
	restarted int
}

// asPostgres runs a server binary as the postgres user when root:
// initdb and postgres refuse to run as root.
func asPostgres(name string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	}
	return exec.Command(name, args...)
}

func postgresBin() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Strings(dirs)
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "pg_ctl")); err == nil {
			return dirs[i]
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p)
	}
	return ""
}

// StartPrivatePostgres initdb's and starts a cluster (fsync off); it is
// stopped and removed when the test ends.
func StartPrivatePostgres(t testing.TB) *PrivatePostgres {
	t.Helper()
	bin := postgresBin()
	if bin == "" {
		unavailable(t, "PostgreSQL", "no pg_ctl under /usr/lib/postgresql/*/bin or on PATH")
	}
	dir, err := os.MkdirTemp("", "labrm-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chown", "postgres", dir).CombinedOutput(); err != nil {
			t.Fatalf("chown %s: %v %s", dir, err, out)
		}
	}
	p := &PrivatePostgres{t: t, bin: bin, dir: dir, port: freePort(t)}
	p.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
	out, err := asPostgres(filepath.Join(bin, "initdb"), "-D", p.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync").CombinedOutput()
	if err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.Start()
	t.Cleanup(func() { p.stop("immediate") })
	return p
}

func (p *PrivatePostgres) data() string { return filepath.Join(p.dir, "data") }

// Start starts the cluster and waits until it accepts connections.
func (p *PrivatePostgres) Start() {
	p.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 -c synchronous_commit=off", p.port, p.dir)
	out, err := asPostgres(filepath.Join(p.bin, "pg_ctl"), "-D", p.data(), "-l", filepath.Join(p.dir, "postgres.log"), "-w", "-t", "60", "-o", opts, "start").CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(p.dir, "postgres.log"))
		p.t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

// Stop shuts the cluster down ("fast": sessions are terminated, as in an
// operator's restart) and waits until it is down.
func (p *PrivatePostgres) Stop() {
	p.t.Helper()
	if err := p.stop("fast"); err != nil {
		p.t.Fatal(err)
	}
}

func (p *PrivatePostgres) stop(mode string) error {
	out, err := asPostgres(filepath.Join(p.bin, "pg_ctl"), "-D", p.data(), "-m", mode, "-w", "-t", "60", "stop").CombinedOutput()
	if err != nil && !strings.Contains(string(out), "Is server running?") {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	return nil
}

// freePort picks a TCP port that is free now.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// PrivateDocker is a dockerd of the test's own, in its own network
// namespace (a second dockerd in the host's namespace would fight the
// shared one over its docker0 bridge and iptables rules), with its own
// data root, exec root, pid file and socket. Its bridge and NAT live in
// that namespace only; nothing it publishes is reachable from the host.
type PrivateDocker struct {
	t     testing.TB
	ns    string
	dir   string
	args  []string
	Host  string // unix://.../docker.sock, for DOCKER_HOST or docker.Config.Host
	cmd   *exec.Cmd
	done  chan struct{}
	image string
}

// StartPrivateDocker starts a private dockerd (with --live-restore if
// asked) and loads the test image into it from the shared engine. It
// needs root, ip(8) and dockerd; without them the test is skipped (failed
// under CI=true).
func StartPrivateDocker(t testing.TB, liveRestore bool) *PrivateDocker {
	t.Helper()
	img := Docker(t)
	if os.Geteuid() != 0 {
		unavailable(t, "a private dockerd", "needs root (network namespaces)")
	}
	for _, bin := range []string{"ip", "nsenter", "dockerd", "docker"} {
		if _, err := exec.LookPath(bin); err != nil {
			unavailable(t, "a private dockerd", "%s not on PATH", bin)
		}
	}
	dir, err := os.MkdirTemp("", "labrm-dockerd-")
	if err != nil {
		t.Fatal(err)
	}
	d := &PrivateDocker{t: t, ns: "labrm-" + randomHex(4), dir: dir, image: img}
	d.Host = "unix://" + filepath.Join(dir, "docker.sock")
	// nsenter, not "ip netns exec": the latter remounts /sys for the
	// namespace, which hides the cgroup mounts dockerd needs.
	d.args = []string{"--net=/var/run/netns/" + d.ns, "dockerd",
		"--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "docker.pid"), "-H", d.Host,
		"--iptables=false", "--ip6tables=false", "--log-level=warn"}
	if liveRestore {
		d.args = append(d.args, "--live-restore")
	}
	for _, c := range [][]string{{"netns", "add", d.ns}, {"netns", "exec", d.ns, "ip", "link", "set", "lo", "up"}} {
		if out, err := exec.Command("ip", c...).CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			unavailable(t, "a private dockerd", "ip %v: %v %s", c, err, out)
		}
	}
	t.Cleanup(d.cleanup)
	d.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	save := exec.CommandContext(ctx, "docker", "save", img)
	load := exec.CommandContext(ctx, "docker", "-H", d.Host, "load")
	pipe, err := save.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	load.Stdin = pipe
	if err := save.Start(); err != nil {
		t.Fatal(err)
	}
	if out, err := load.CombinedOutput(); err != nil {
		t.Fatalf("load %s into the private dockerd: %v %s", img, err, out)
	}
	if err := save.Wait(); err != nil {
		t.Fatalf("docker save %s: %v", img, err)
	}
	return d
}

// Start starts dockerd and waits until it answers.
func (d *PrivateDocker) Start() {
	d.t.Helper()
	logf, err := os.OpenFile(filepath.Join(d.dir, "dockerd.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		d.t.Fatal(err)
	}
	d.cmd = exec.Command("nsenter", d.args...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		cmd.Wait()
		logf.Close()
		close(done)
	}(d.cmd, d.done)
	e, err := docker.New(docker.Config{Host: d.Host})
	if err != nil {
		d.t.Fatal(err)
	}
	defer e.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := e.Ping(ctx)
		cancel()
		if err == nil {
			return
		}
		select {
		case <-d.done:
			d.t.Fatalf("private dockerd exited at start:\n%s", d.Log())
		default:
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("private dockerd did not answer within 60s: %v\n%s", err, d.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop sends dockerd SIGTERM and waits for it to exit, as an operator's
// `systemctl restart docker` would.
func (d *PrivateDocker) Stop() {
	d.t.Helper()
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(90 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
		d.t.Fatalf("private dockerd did not stop within 90s of SIGTERM:\n%s", d.Log())
	}
	d.cmd = nil
}

// Restart stops and starts dockerd.
func (d *PrivateDocker) Restart() {
	d.t.Helper()
	d.Stop()
	d.Start()
}

// Image is the test image, loaded into this dockerd.
func (d *PrivateDocker) Image() string { return d.image }

// Docker runs the docker CLI against this dockerd.
func (d *PrivateDocker) Docker(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", append([]string{"-H", d.Host}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// Log is dockerd's output so far.
func (d *PrivateDocker) Log() string {
	b, _ := os.ReadFile(filepath.Join(d.dir, "dockerd.log"))
	return string(b)
}

// cleanup removes every container (live-restore keeps them past the
// daemon), stops dockerd, unmounts what it left and removes the namespace
// and the directory.
func (d *PrivateDocker) cleanup() {
	if d.cmd != nil {
		if ids, err := d.Docker("ps", "-aq"); err == nil && ids != "" {
			d.Docker(append([]string{"rm", "-f"}, strings.Fields(ids)...)...)
		}
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(60 * time.Second):
			d.cmd.Process.Kill()
			<-d.done
		}
	}
	for _, m := range mountsUnder(d.dir) {
		syscall.Unmount(m, syscall.MNT_DETACH)
	}
	exec.Command("ip", "netns", "delete", d.ns).Run()
	os.RemoveAll(d.dir)
}

// mountsUnder lists mount points below dir, deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			out = append(out, fields[4])
		}
	}
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}
