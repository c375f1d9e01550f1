module github.com/vigil-ha/vigil

go 1.26.8

require (
	github.com/bougou/go-ipmi v0.9.1 // indirect
	github.com/ceph/go-ceph v0.34.0 // indirect
	github.com/cockroachdb/datadriven v1.0.3 // indirect
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	github.com/stmcginnis/gofish v0.20.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
