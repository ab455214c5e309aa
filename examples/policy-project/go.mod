module example.com/policy-project

go 1.26

require github.com/staticlet/staticlet/sdk v0.0.0

// In your own project, drop this line and `go get github.com/staticlet/staticlet/sdk`.
replace github.com/staticlet/staticlet/sdk => ../../sdk
