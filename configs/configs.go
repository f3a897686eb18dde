// Package configs holds the files medbiz ships inside its binary: the rule
// packs (rules/*.yaml) and the commented default configuration
// (medbiz.yaml), so that an installed binary runs from any folder. It owns
// no logic and imports nothing of medbiz.
package configs

import (
	"embed"
	"io/fs"
)

//go:embed medbiz.yaml rules/*.yaml
var files embed.FS

// Rules is the folder of shipped rule packs: one *.yaml file per pack at
// its top (common.yaml, adult.yaml, elderly.yaml, infant.yaml).
var Rules fs.FS = mustSub("rules")

// MedbizYAML is configs/medbiz.yaml: every config key with its default
// and a comment.
var MedbizYAML = mustRead("medbiz.yaml")

func mustSub(dir string) fs.FS {
	sub, err := fs.Sub(files, dir)
	if err != nil {
		panic(err) // only if the embed pattern above changes
	}
	return sub
}

func mustRead(name string) []byte {
	b, err := files.ReadFile(name)
	if err != nil {
		panic(err) // only if the embed pattern above changes
	}
	return b
}
