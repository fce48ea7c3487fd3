package gateway_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/servertest"
)

// TestPagesInChromium opens labs' access links in headless Chromium: a
// starting lab's page shows its phase and what it waits for and reloads
// itself until the app answers, then shows the app; a failed lab's page
// shows its error_message; an ended lab's page says it has ended.
func TestPagesInChromium(t *testing.T) {
	t.Parallel()
	browser := servertest.Chromium(t)
	e := newEnv(t, nil)
	starting := e.create("starting", func(l *api.LabInstanceRequest) { l.Spec.Environment = api.StringMap{"DELAY": "6s"} })
	failed := e.create("failed", func(l *api.LabInstanceRequest) {
		l.Spec.LabTemplate = e.busybox
		l.Spec.Environment = api.StringMap{"LAB_EXIT_AFTER": "0", "LAB_EXIT_CODE": "3"}
	})
	ended := e.create("ended", func(l *api.LabInstanceRequest) {
		l.Spec.LabTemplate = e.busybox
		l.Spec.Environment = api.StringMap{"LAB_EXIT_AFTER": "0", "LAB_EXIT_CODE": "0"}
	})

	profile, err := os.MkdirTemp("", "labd-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(profile) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, chromedp.ExecPath(browser), chromedp.Flag("headless", true),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(profile),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true))
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(allocCtx)
	defer cancelTab()

	text := func(id string) string {
		s, _ := chromedp.Run(tab, chromedp.Evaluate[string](fmt.Sprintf(`(document.getElementById(%q) || {}).textContent || ''`, id)))
		return s
	}
	// waitFor evaluates js until it is true, across the page's own
	// reloads (an evaluation during one fails, and is tried again).
	waitFor := func(what, js string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			ok, err := chromedp.Run(tab, chromedp.Evaluate[bool](js))
			if err == nil && ok {
				return
			}
			if time.Now().After(deadline) {
				body, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
				t.Fatalf("%s: not after 60s (%v); the page says: %s", what, err, body)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	open := func(l *api.LabInstanceRequest) {
		t.Helper()
		if err := chromedp.Do(tab, chromedp.Navigate(e.url(l.Key(), "/?token="+e.token(l.Key())))); err != nil {
			t.Fatalf("open %s: %v", l.Metadata.Name, err)
		}
	}

	// Starting: the page, then (by its own refresh) the app.
	open(starting)
	waitFor("the starting page", `document.getElementById('title') !== null`)
	if title := text("title"); title != "Your lab is starting" {
		t.Fatalf("starting lab's page: %q", title)
	}
	if phase := text("phase"); phase != string(api.PhasePending) && phase != string(api.PhaseProvisioning) {
		t.Fatalf("starting lab's phase %q", phase)
	}
	loc, _ := chromedp.Run(tab, chromedp.Evaluate[string](`location.href`))
	if strings.Contains(loc, "token") {
		t.Fatalf("the address bar still holds the token: %s", loc)
	}
	waitFor("the condition message", `(document.getElementById('message') || {textContent: ''}).textContent.includes('waiting for the app to answer on port 8080')`)
	waitFor("the app, after the page reloaded itself", `document.getElementById('app') !== null`)
	if app := text("app"); app != "labrm test app" {
		t.Fatalf("app page: %q", app)
	}
	if l := e.waitPhase(starting.Key(), api.PhaseRunning); l.Status.Phase != api.PhaseRunning {
		t.Fatal("not running")
	}

	// Failed: the error message.
	e.waitPhase(failed.Key(), api.PhaseFailed)
	open(failed)
	waitFor("the failed page", `document.getElementById('error') !== null`)
	if title, msg := text("title"), text("error"); title != "Your lab could not run" || msg != "the container exited with code 3" {
		t.Fatalf("failed lab's page: %q, %q", title, msg)
	}

	// Ended.
	e.waitPhase(ended.Key(), api.PhaseCompleted)
	open(ended)
	waitFor("the ended page", `document.getElementById('phase') !== null`)
	if title, phase := text("title"), text("phase"); title != "This lab has ended" || phase != "COMPLETED" {
		t.Fatalf("ended lab's page: %q, %q", title, phase)
	}
}
