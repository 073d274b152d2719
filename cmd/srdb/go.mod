module github.com/srdb-go/srdb/cmd/srdb

go 1.26.0

require (
	github.com/shopspring/decimal v1.6.0
	github.com/srdb-go/srdb v0.0.0
	github.com/stretchr/testify v1.12.1
)

require (
	github.com/klauspost/compress v1.20.5 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/exp v0.0.0-20261014143641-f0251eb4aa3e // indirect
)

replace github.com/srdb-go/srdb => ../..
