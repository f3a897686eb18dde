package rules

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Source is one folder of rule packs: an fs.FS whose top-level *.yaml files
// are packs (the packs built into the binary, a directory on disk). Name is
// how errors and Rule.File name its files: Name/<file>.
type Source struct {
	Name string
	FS   fs.FS
}

// String is the source's name, as logs show it.
func (s Source) String() string { return s.Name }

// Load reads and compiles the *.yaml files at the top of each source into
// one pack. A file of a later source replaces the file of the same name in
// an earlier one, so a folder laid over the built-in packs overrides a pack
// by its name and adds packs under new names. Any error names the file and
// line; nothing is returned then, so a caller keeps its previous pack.
func Load(sources ...Source) (*Pack, error) {
	type file struct {
		src  Source
		name string
	}
	byName := map[string]file{}
	for _, src := range sources {
		entries, err := fs.ReadDir(src.FS, ".")
		if err != nil {
			return nil, fmt.Errorf("list rule files in %s: %w", src.Name, err)
		}
		for _, e := range entries {
			if !e.IsDir() && path.Ext(e.Name()) == ".yaml" {
				byName[e.Name()] = file{src, e.Name()}
			}
		}
	}
	if len(byName) == 0 {
		names := make([]string, len(sources))
		for i, s := range sources {
			names[i] = s.Name
		}
		return nil, fmt.Errorf("load rules: no *.yaml files in %s", strings.Join(names, ", "))
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	var all []*Rule
	var errs []error
	for _, n := range names {
		f := byName[n]
		data, err := fs.ReadFile(f.src.FS, f.name)
		if err != nil {
			return nil, fmt.Errorf("read rule file %s: %w", filepath.Join(f.src.Name, f.name), err)
		}
		rs, err := parseFile(filepath.Join(f.src.Name, f.name), data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		all = append(all, rs...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return buildPack(all)
}

// LoadDir is Load of one directory on disk.
func LoadDir(dir string) (*Pack, error) {
	return Load(Source{Name: dir, FS: os.DirFS(dir)})
}
