// Command clientgo-bench is the client-go side of bench/kube.sh, and its loader.
//
//	-mode informer  sync a ConfigMap informer on -namespace, then count the update events its
//	                handler sees until the stream has been quiet for -quiet (the same
//	                measurement as kube_informer_bench, the C++ side)
//	-mode create    create -n ConfigMaps (with -payload bytes of data each) using -concurrency
//	                goroutines
//	-mode update    merge-patch those ConfigMaps round-robin, as fast as -concurrency goroutines
//	                can, for -seconds
//
// Results are printed as key=value lines on stdout.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/flowcontrol"
)

var (
	mode        = flag.String("mode", "informer", "informer | create | update")
	kubeconfig  = flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file")
	namespace   = flag.String("namespace", "bench", "namespace of the ConfigMaps")
	n           = flag.Int("n", 10000, "create/update: number of ConfigMaps; informer: expected")
	concurrency = flag.Int("concurrency", 16, "create/update: parallel requests")
	seconds     = flag.Float64("seconds", 20, "update: how long to load")
	payload     = flag.Int("payload", 1024, "create: bytes of data per ConfigMap")
	readyFile   = flag.String("ready-file", "", "informer: file created once synced")
	doneFile    = flag.String("done-file", "", "informer: holds the number of updates made, once made")
	quiet       = flag.Duration("quiet", 10*time.Second, "informer: after -done-file, stop after this long without events")
	maxWait     = flag.Duration("max-wait", 10*time.Minute, "informer: give up waiting for events")
	jsonWire    = flag.Bool("json", false, "informer: JSON on the wire instead of client-go's default "+
		"protobuf for built-in kinds (CustomResources are always JSON)")
)

func main() {
	flag.Parse()
	start := time.Now()
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fail("kubeconfig: %v", err)
	}
	switch *mode {
	case "informer":
		runInformer(cfg, start)
	case "create":
		runCreate(loaderClient(cfg))
	case "update":
		runUpdate(loaderClient(cfg))
	default:
		fail("unknown -mode %q", *mode)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "clientgo-bench: "+format+"\n", args...)
	os.Exit(1)
}

// The loader must not be throttled by client-go's default 5 QPS limiter.
func loaderClient(cfg *rest.Config) *kubernetes.Clientset {
	cfg.RateLimiter = flowcontrol.NewFakeAlwaysRateLimiter()
	return kubernetes.NewForConfigOrDie(cfg)
}

func name(i int) string { return fmt.Sprintf("bench-%05d", i) }

// ---- informer ----------------------------------------------------------------------------

func vmHWMMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return -1
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func runInformer(cfg *rest.Config, start time.Time) {
	if *jsonWire {
		cfg.ContentType = "application/json"
		cfg.AcceptContentTypes = "application/json"
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(*namespace))
	inf := factory.Core().V1().ConfigMaps().Informer()

	var mu sync.Mutex
	var events int64
	var first, last time.Time
	var firstCPU float64
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		// Adds are the initial sync; only the loader's updates are counted.
		UpdateFunc: func(oldObj, newObj any) {
			_ = newObj.(*corev1.ConfigMap)
			now := time.Now()
			mu.Lock()
			if events == 0 {
				first = now
				firstCPU = cpuSeconds()
			}
			events++
			last = now
			mu.Unlock()
		},
	})
	if err != nil {
		fail("AddEventHandler: %v", err)
	}
	stop := make(chan struct{})
	factory.Start(stop)
	// Not cache.WaitForCacheSync: it polls every 100 ms, which would round client-go's
	// sync time up to the next tenth; this sees the moment within a millisecond.
	syncBy := time.Now().Add(*maxWait)
	for !inf.HasSynced() || !reg.HasSynced() {
		if time.Now().After(syncBy) {
			fail("informer did not sync within %v", *maxWait)
		}
		time.Sleep(time.Millisecond)
	}
	syncSeconds := time.Since(start).Seconds()
	objects := len(inf.GetStore().ListKeys())
	fmt.Printf("objects=%d\nsync_seconds=%.3f\nsync_cpu_seconds=%.3f\nsync_rss_mib=%.1f\n",
		objects, syncSeconds, cpuSeconds(), vmHWMMiB())
	if objects != *n {
		fmt.Fprintf(os.Stderr, "clientgo-bench: warning: %d objects cached, %d expected\n", objects, *n)
	}
	if *readyFile == "" {
		return
	}
	if err := os.WriteFile(*readyFile, []byte("synced\n"), 0o644); err != nil {
		fail("ready file: %v", err)
	}
	// Stop once every update the loader made has been seen (it writes their number to
	// -done-file when it is done), or nothing arrived for -quiet after that, or -max-wait.
	deadline := time.Now().Add(*maxWait)
	expected := int64(-1)
	var doneAt time.Time
	for time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		if expected < 0 && *doneFile != "" {
			if b, err := os.ReadFile(*doneFile); err == nil {
				if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
					expected, doneAt = v, time.Now()
				}
			}
		}
		mu.Lock()
		ev, l := events, last
		mu.Unlock()
		if expected >= 0 && (ev >= expected || time.Since(maxTime(l, doneAt)) > *quiet) {
			break
		}
	}
	close(stop)
	mu.Lock()
	defer mu.Unlock()
	window := last.Sub(first).Seconds()
	rate := 0.0
	if window > 0 {
		rate = float64(events) / window
	}
	cpuPer1k := 0.0
	if events > 0 {
		cpuPer1k = (cpuSeconds() - firstCPU) * 1000 / float64(events) * 1000
	}
	fmt.Printf("events=%d\nevent_seconds=%.3f\nevents_per_sec=%.0f\ncpu_ms_per_1k_events=%.1f\npeak_rss_mib=%.1f\n",
		events, window, rate, cpuPer1k, vmHWMMiB())
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// ---- loader ------------------------------------------------------------------------------

func runCreate(cs *kubernetes.Clientset) {
	ctx := context.Background()
	_, err := cs.CoreV1().Namespaces().Create(ctx,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: *namespace}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		fail("create namespace: %v", err)
	}
	const keys = 8
	value := strings.Repeat("x", max(*payload/keys, 1))
	start := time.Now()
	var next, created, failed atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < *concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= *n {
					return
				}
				cm := &corev1.ConfigMap{
					ObjectMeta: metav1.ObjectMeta{
						Name:   name(i),
						Labels: map[string]string{"app": "bench", "shard": strconv.Itoa(i % 16)},
					},
					Data: map[string]string{},
				}
				for k := 0; k < keys; k++ {
					cm.Data[fmt.Sprintf("key-%d", k)] = value
				}
				_, err := cs.CoreV1().ConfigMaps(*namespace).Create(ctx, cm, metav1.CreateOptions{})
				switch {
				case err == nil:
					created.Add(1)
				case apierrors.IsAlreadyExists(err):
				default:
					if failed.Add(1) <= 5 {
						fmt.Fprintf(os.Stderr, "create %s: %v\n", cm.Name, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	s := time.Since(start).Seconds()
	fmt.Printf("created=%d\nfailed=%d\ncreate_seconds=%.3f\ncreates_per_sec=%.0f\n",
		created.Load(), failed.Load(), s, float64(created.Load())/s)
	if failed.Load() > 0 {
		os.Exit(1)
	}
}

func runUpdate(cs *kubernetes.Clientset) {
	ctx := context.Background()
	// Every patch must change the object (a no-op patch makes no event), also across runs.
	run := time.Now().UnixNano()
	deadline := time.Now().Add(time.Duration(*seconds * float64(time.Second)))
	start := time.Now()
	var next, updated, failed atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < *concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				i := next.Add(1) - 1
				patch := fmt.Sprintf(`{"data":{"counter":"%d-%d"}}`, run, i)
				_, err := cs.CoreV1().ConfigMaps(*namespace).Patch(ctx, name(int(i)%*n),
					types.MergePatchType, []byte(patch), metav1.PatchOptions{})
				if err != nil {
					if failed.Add(1) <= 5 {
						fmt.Fprintf(os.Stderr, "patch: %v\n", err)
					}
					continue
				}
				updated.Add(1)
			}
		}()
	}
	wg.Wait()
	s := time.Since(start).Seconds()
	fmt.Printf("updates=%d\nfailed=%d\nupdate_seconds=%.3f\nupdates_per_sec=%.0f\n",
		updated.Load(), failed.Load(), s, float64(updated.Load())/s)
}
