package main

import "github.com/staticlet/staticlet/sdk"

func sdktestNode(name string) sdk.Node { return sdk.Node{Name: name} }
