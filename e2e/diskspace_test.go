package e2e

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// The suite's builds write disks of several GiB into buildkitd's state and
// into the tests' output directories. A CI run once ran its machine out of
// space and failed a build far from the test that had filled the disk; the
// lowest free space the run saw, printed at its end, tells how near the
// next one is.

// freeSpaceDirs are where the suite writes: test outputs, the state of the
// tests' own buildkitds, and the shared buildkitd's.
var freeSpaceDirs = []string{os.TempDir(), "/var/tmp", "/var/lib"}

type freeSpaceWatch struct {
	mu      sync.Mutex
	start   uint64
	lowest  uint64
	at      time.Time
	test    string // running now
	lowTest string // running when the lowest was seen
	stop    chan struct{}
}

// space watches the whole run; requireE2E tells it which test runs.
var space *freeSpaceWatch

// enter records that test runs from now on.
func (w *freeSpaceWatch) enter(test string) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.test = test
}

// watchFreeSpace samples the free space of freeSpaceDirs every two seconds
// until stopped.
func watchFreeSpace() *freeSpaceWatch {
	w := &freeSpaceWatch{stop: make(chan struct{})}
	w.start = lowestFree()
	w.lowest, w.at = w.start, time.Now()
	go func() {
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
				w.sample()
			}
		}
	}()
	return w
}

func (w *freeSpaceWatch) sample() {
	free := lowestFree()
	w.mu.Lock()
	defer w.mu.Unlock()
	if free < w.lowest {
		w.lowest, w.at, w.lowTest = free, time.Now(), w.test
	}
}

// report stops the watch and says what it saw.
func (w *freeSpaceWatch) report() string {
	close(w.stop)
	w.sample()
	w.mu.Lock()
	defer w.mu.Unlock()
	return fmt.Sprintf("e2e: lowest free disk space during the run: %s at %s, in %s (%s at its start)",
		gib(w.lowest), w.at.UTC().Format("15:04:05"), w.lowTest, gib(w.start))
}

// lowestFree is the free space of the fullest filesystem among
// freeSpaceDirs.
func lowestFree() uint64 {
	lowest := ^uint64(0)
	for _, dir := range freeSpaceDirs {
		var st syscall.Statfs_t
		if syscall.Statfs(dir, &st) != nil {
			continue
		}
		lowest = min(lowest, st.Bavail*uint64(st.Bsize))
	}
	return lowest
}

func gib(n uint64) string { return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30)) }
