package app

import (
	"os"

	"github.com/medbiz/medbiz/configs"
	"github.com/medbiz/medbiz/rules"
)

// builtinPacks names the packs built into the binary in errors and logs
// ("builtin/adult.yaml:12: ...").
const builtinPacks = "builtin"

// rulePacks are the folders the rule engine loads, in order: the packs
// built into the binary (rules.builtin), then rules.dir over them, where a
// file named like a built-in pack replaces it and any other file adds a
// pack.
func (a *App) rulePacks() []rules.Source {
	var srcs []rules.Source
	if a.cfg.Rules.Builtin {
		srcs = append(srcs, rules.Source{Name: builtinPacks, FS: configs.Rules})
	}
	if a.cfg.Rules.Dir != "" {
		srcs = append(srcs, rules.Source{Name: a.cfg.Rules.Dir, FS: os.DirFS(a.cfg.Rules.Dir)})
	}
	return srcs
}
