// Command etcd is the etcd server, wired from go.etcd.io/etcd/server/v3 the same way
// upstream's own main package does.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
