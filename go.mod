module github.com/srdb-go/srdb

go 1.24
