module github.com/staticlet/staticlet/sdk

go 1.26
