package kubernetes

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/workqueue"

	"github.com/labrm/terraform-provider-lab/server/workload"
)

// Defaults for Config.
const (
	DefaultNamespace       = "labs"
	DefaultNodeLostTimeout = time.Minute
	DefaultWorkspaceSize   = "1Gi"
	DefaultLabdNamespace   = "labrm"
	DefaultStopTimeout     = 10 * time.Second
)

// DefaultLabdPodLabels select labd's own pods (the labels of
// examples/deploy): the network policy admits traffic to labs from them.
var DefaultLabdPodLabels = map[string]string{"app.kubernetes.io/name": "labd"}

// inClusterNamespace is where a pod finds its own namespace.
const inClusterNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// Config configures the Kubernetes engine.
type Config struct {
	// Kubeconfig is the path of a kubeconfig file; empty means the
	// in-cluster configuration (labd running in a pod, with its
	// ServiceAccount's token).
	Kubeconfig string
	// RESTConfig, when set, is used as it is instead of Kubeconfig (tests
	// give a ServiceAccount's token this way).
	RESTConfig *rest.Config
	// Namespace holds the labs' pods, their workspaces and the network
	// policy. Default "labs".
	Namespace string
	// Installation is this labd installation's id (the store's): the
	// network policy and workspaces are this installation's.
	Installation string

	// ImagePullPolicy of lab containers; default IfNotPresent.
	ImagePullPolicy corev1.PullPolicy
	// NodeSelector and Tolerations place labs on some nodes only (e.g.
	// nodes tainted for labs); Capacity counts those nodes alone.
	NodeSelector map[string]string
	Tolerations  []corev1.Toleration
	// RunAsUser and ReadOnlyRootFilesystem are the installation's
	// defaults for labs whose spec sets neither (harden.go): a numeric
	// user id (nil: the image's user), and a read-only root file system
	// for every lab.
	RunAsUser              *int64
	ReadOnlyRootFilesystem bool
	// NodeLostTimeout is how long a lab's node may be NotReady or Unknown
	// before the lab is reported Exited ("node lost"). Default 1 minute:
	// the node lifecycle controller marks a silent node Unknown after its
	// grace period (40-50 s), so a lost node is noticed within about two
	// minutes of going silent.
	NodeLostTimeout time.Duration

	// StorageClass of workspace claims; empty means the cluster's default
	// class. WorkspaceSize is what a claim requests; default 1Gi.
	StorageClass  string
	WorkspaceSize string

	// LabdNamespace and LabdPodLabels select labd's pods, the only ones
	// the network policy lets reach labs. Defaults: the namespace labd
	// runs in (in a cluster), else "labrm"; app.kubernetes.io/name=labd.
	LabdNamespace string
	LabdPodLabels map[string]string

	// QPS and Burst limit requests to the API server (client-go's defaults,
	// 5 and 10, are for command-line tools). Defaults 50 and 100.
	QPS   float32
	Burst int

	Logger *slog.Logger
	Now    func() time.Time
}

func (c *Config) setDefaults() error {
	c.Namespace = cmp.Or(c.Namespace, DefaultNamespace)
	c.ImagePullPolicy = cmp.Or(c.ImagePullPolicy, corev1.PullIfNotPresent)
	c.NodeLostTimeout = cmp.Or(c.NodeLostTimeout, DefaultNodeLostTimeout)
	c.WorkspaceSize = cmp.Or(c.WorkspaceSize, DefaultWorkspaceSize)
	if _, err := resource.ParseQuantity(c.WorkspaceSize); err != nil {
		return fmt.Errorf("workspace size %q: %w", c.WorkspaceSize, err)
	}
	if c.LabdNamespace == "" {
		if b, err := os.ReadFile(inClusterNamespace); err == nil {
			c.LabdNamespace = strings.TrimSpace(string(b))
		}
		c.LabdNamespace = cmp.Or(c.LabdNamespace, DefaultLabdNamespace)
	}
	if len(c.LabdPodLabels) == 0 {
		c.LabdPodLabels = maps.Clone(DefaultLabdPodLabels)
	}
	c.QPS = cmp.Or(c.QPS, 50)
	c.Burst = cmp.Or(c.Burst, 100)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Installation == "" {
		return errors.New("an installation id is required")
	}
	// The network policy selects this installation's pods by it.
	if errs := validation.IsValidLabelValue(c.Installation); len(errs) > 0 {
		return fmt.Errorf("installation id %q is no label value: %s", c.Installation, strings.Join(errs, "; "))
	}
	return nil
}

// restConfig is the client configuration Config names.
func (c *Config) restConfig() (*rest.Config, error) {
	var rc *rest.Config
	var err error
	switch {
	case c.RESTConfig != nil:
		rc = rest.CopyConfig(c.RESTConfig)
	case c.Kubeconfig != "":
		rc, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %w", c.Kubeconfig, err)
		}
	default:
		rc, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster configuration (or set a kubeconfig): %w", err)
		}
	}
	rc.QPS, rc.Burst = c.QPS, c.Burst
	rc.UserAgent = cmp.Or(rc.UserAgent, "labd")
	return rc, nil
}

// Engine runs labs' workloads as pods. It is safe for concurrent use.
type Engine struct {
	cfg  Config
	cs   kubernetes.Interface
	log  *slog.Logger
	now  func() time.Time
	pods corelisters.PodLister
	// podIndex finds the pods bound to a node (indexByNode).
	podIndex    cache.Indexer
	nodes       corelisters.NodeLister
	podsSynced  cache.InformerSynced
	nodesSynced cache.InformerSynced

	changes  workqueue.TypedInterface[string]
	labelsMu sync.Mutex
	labels   map[string]map[string]string // pod name -> its labels, until its change is delivered
	out      chan workload.Event
	cancel   context.CancelFunc
	done     sync.WaitGroup
	timersMu sync.Mutex             // guards timers and closed
	timers   map[string]*time.Timer // node name -> its node-lost notification
	closed   bool
}

// indexByNode indexes pods by the node they are bound to.
const indexByNode = "node"

// New returns an Engine for the cluster that cfg names and starts its
// informers: a watch of the lab pods in cfg.Namespace and one of the
// nodes. They run until ctx ends or Close is called. New does not wait for
// them: until their caches have synced, reads go to the API server
// (WaitSynced waits). It does not contact the API server otherwise; Ping
// checks that it answers.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, fmt.Errorf("kubernetes engine: %w", err)
	}
	rc, err := cfg.restConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes engine: %w", err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	e := &Engine{
		cfg:     cfg,
		cs:      cs,
		log:     cfg.Logger,
		now:     cfg.Now,
		changes: workqueue.NewTyped[string](),
		labels:  map[string]map[string]string{},
		out:     make(chan workload.Event),
		timers:  map[string]*time.Timer{},
	}
	ctx, e.cancel = context.WithCancel(ctx)
	podFactory := informers.NewSharedInformerFactoryWithOptions(cs, 0,
		informers.WithNamespace(cfg.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = managedSelector }))
	nodeFactory := informers.NewSharedInformerFactory(cs, 0)
	podInf := podFactory.Core().V1().Pods()
	nodeInf := nodeFactory.Core().V1().Nodes()
	e.pods, e.nodes = podInf.Lister(), nodeInf.Lister()
	e.podIndex = podInf.Informer().GetIndexer()
	e.podsSynced, e.nodesSynced = podInf.Informer().HasSynced, nodeInf.Informer().HasSynced
	e.watch(podInf.Informer(), nodeInf.Informer())
	podFactory.Start(ctx.Done())
	nodeFactory.Start(ctx.Done())
	e.done.Add(2)
	go func() {
		defer e.done.Done()
		<-ctx.Done()
		e.changes.ShutDown()
		e.stopTimers()
		podFactory.Shutdown()
		nodeFactory.Shutdown()
	}()
	go func() {
		defer e.done.Done()
		e.deliver(ctx)
	}()
	return e, nil
}

// Close stops the informers and closes Events' channel.
func (e *Engine) Close() error {
	e.cancel()
	e.done.Wait()
	return nil
}

// WaitSynced waits until the informers' caches hold the cluster's pods
// and nodes, or ctx ends.
func (e *Engine) WaitSynced(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), e.podsSynced, e.nodesSynced) {
		return fmt.Errorf("wait for the pod and node caches: %w", context.Cause(ctx))
	}
	return nil
}

// Ping checks that the API server answers and is ready (/readyz, which
// every authenticated client may read).
func (e *Engine) Ping(ctx context.Context) error {
	body, err := e.cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("kubernetes api server /readyz: %w", err)
	}
	if s := strings.TrimSpace(string(body)); s != "ok" {
		return fmt.Errorf("kubernetes api server /readyz: %q", s)
	}
	return nil
}
