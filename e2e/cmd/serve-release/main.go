// Command serve-release serves a release fixture directory on loopback, as
// kubernetes.source for builds on machines without internet. It prints the
// URL on stdout, then serves until it is killed.
//
//	go run ./e2e/cmd/serve-release DIR
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/strata-dev/strata/e2e/releaseserver"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: serve-release DIR")
		os.Exit(2)
	}
	srv, err := releaseserver.Start(os.Args[1], releaseserver.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(srv.URL())
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
	srv.Close()
}
