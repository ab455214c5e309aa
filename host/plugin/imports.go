package plugin

import (
	"fmt"

	"github.com/tetratelabs/wazero"
)

// checkImports refuses, before instantiation, a staticlet-ABI module that
// imports a function the host does not provide (only the `staticlet` host
// module and WASI preview 1 are there), naming the import: wazero's own
// error says only that the module is missing. env.abort, the import every
// AssemblyScript module has unless its abort is mapped, gets the fix.
func checkImports(compiled wazero.CompiledModule) error {
	for _, fn := range compiled.ImportedFunctions() {
		module, name, _ := fn.Import()
		if module == hostModule || module == "wasi_snapshot_preview1" {
			continue
		}
		hint := ""
		if module == "env" && name == "abort" {
			hint = " (an AssemblyScript module: build with `--use abort=staticletAbort`, as the SDK's asconfig.base.json does; sdk/assemblyscript)"
		}
		return fmt.Errorf("%w: it imports %s.%s, which the host does not provide (a plugin may import only the %q module and WASI preview 1)%s",
			ErrInvalidModule, module, name, hostModule, hint)
	}
	return nil
}
