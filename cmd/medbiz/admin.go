package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/medbiz/medbiz/app"
)

func init() {
	commands = append(commands, newFarmCmd, newPatientCmd, newDeviceCmd, newCaregiverCmd, newTokenCmd)
}

// adminClient calls the provisioning API of a running medbiz.
type adminClient struct {
	url, token, dataDir string
}

func (c *adminClient) flags(cmd *cobra.Command) {
	url := os.Getenv("MEDBIZ_URL")
	if url == "" {
		url = "http://127.0.0.1:8080"
	}
	cmd.PersistentFlags().StringVar(&c.url, "url", url, "medbiz HTTP API (env MEDBIZ_URL)")
	cmd.PersistentFlags().StringVar(&c.token, "token", os.Getenv("MEDBIZ_ADMIN_TOKEN"), "admin token (env MEDBIZ_ADMIN_TOKEN; default: read DATA_DIR/admin.token)")
	cmd.PersistentFlags().StringVar(&c.dataDir, "data-dir", defaultDataDir(), "where serve keeps a generated admin token (env MEDBIZ_DATA_DIR)")
}

// defaultDataDir is serve's data_dir as the environment sets it, else its
// default, so the client verbs find the admin token serve generated.
func defaultDataDir() string {
	if d := os.Getenv("MEDBIZ_DATA_DIR"); d != "" {
		return d
	}
	return app.DefaultConfig().DataDir
}

func (c *adminClient) post(cmd *cobra.Command, path string, body any) error {
	token := c.token
	if token == "" {
		b, err := os.ReadFile(filepath.Join(c.dataDir, "admin.token"))
		if err != nil {
			return fmt.Errorf("no admin token: pass --token or MEDBIZ_ADMIN_TOKEN (%v)", err)
		}
		token = strings.TrimSpace(string(b))
	}
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPost, strings.TrimRight(c.url, "/")+path, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", req.Method, path, resp.Status, bytes.TrimSpace(out))
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, out, "", "  ") == nil {
		out = pretty.Bytes()
	}
	_, err = fmt.Fprintln(cmd.OutOrStdout(), string(out))
	return err
}

// group makes "medbiz NOUN add ..." with the shared client flags.
func group(noun, short string, add *cobra.Command, c *adminClient) *cobra.Command {
	cmd := &cobra.Command{Use: noun, Short: short}
	c.flags(cmd)
	cmd.AddCommand(add)
	return cmd
}

func newFarmCmd() *cobra.Command {
	c := &adminClient{}
	var name string
	add := &cobra.Command{
		Use: "add ID", Short: "Create a farm and its bucket", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.post(cmd, "/api/v1/farms", map[string]any{"id": args[0], "name": name})
		},
	}
	add.Flags().StringVar(&name, "name", "", "display name")
	return group("farm", "Manage farms", add, c)
}

func newPatientCmd() *cobra.Command {
	c := &adminClient{}
	var farm, profile, birth string
	add := &cobra.Command{
		Use: "add ID", Short: "Create a patient", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := map[string]any{"id": args[0], "profile": profile}
			if birth != "" {
				body["birth_date"] = birth
			}
			return c.post(cmd, "/api/v1/farms/"+farm+"/patients", body)
		},
	}
	add.Flags().StringVar(&farm, "farm", "", "farm id")
	add.Flags().StringVar(&profile, "profile", "elderly", "adult, elderly or infant")
	add.Flags().StringVar(&birth, "birth-date", "", "YYYY-MM-DD (required for infants)")
	_ = add.MarkFlagRequired("farm")
	return group("patient", "Manage patients", add, c)
}

func newDeviceCmd() *cobra.Command {
	c := &adminClient{}
	var farm, patient, kind string
	add := &cobra.Command{
		Use: "add ID", Short: "Create a device; prints its MQTT username and password (shown once)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.post(cmd, "/api/v1/farms/"+farm+"/devices", map[string]any{"id": args[0], "patient": patient, "kind": kind})
		},
	}
	add.Flags().StringVar(&farm, "farm", "", "farm id")
	add.Flags().StringVar(&patient, "patient", "", "patient id")
	add.Flags().StringVar(&kind, "kind", "other", "device kind (bp_monitor, pulse_oximeter, ...)")
	_ = add.MarkFlagRequired("farm")
	_ = add.MarkFlagRequired("patient")
	return group("device", "Manage devices", add, c)
}

func newCaregiverCmd() *cobra.Command {
	c := &adminClient{}
	var farm string
	var patients []string
	add := &cobra.Command{
		Use: "add ID", Short: "Create a caregiver; prints its MQTT username and password (shown once)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.post(cmd, "/api/v1/farms/"+farm+"/caregivers", map[string]any{"id": args[0], "patients": patients})
		},
	}
	add.Flags().StringVar(&farm, "farm", "", "farm id")
	add.Flags().StringSliceVar(&patients, "patients", nil, "patient ids, comma separated")
	_ = add.MarkFlagRequired("farm")
	return group("caregiver", "Manage caregivers", add, c)
}

func newTokenCmd() *cobra.Command {
	c := &adminClient{}
	var farm string
	var scopes []string
	add := &cobra.Command{
		Use: "add", Short: "Create a farm API token (shown once)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.post(cmd, "/api/v1/farms/"+farm+"/tokens", map[string]any{"scopes": scopes})
		},
	}
	add.Flags().StringVar(&farm, "farm", "", "farm id")
	add.Flags().StringSliceVar(&scopes, "scopes", []string{"read"}, "read, write")
	_ = add.MarkFlagRequired("farm")
	return group("token", "Manage farm API tokens", add, c)
}
