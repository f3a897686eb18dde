package sim

// ExpectedRule maps each scenario to the id of the alert rule medbiz should
// raise for it. It is the one place to adjust when rule ids change.
//
// The ids follow the rule packs in configs/rules as of this writing; the
// names first proposed are kept in comments for reconciliation.
var ExpectedRule = map[string]string{
	"shock":               "shock",
	"sepsis":              "sepsis_screen",
	"hypertensive_crisis": "hypertensive", // proposed: hypertensive_crisis (escalates to critical when confirmed)
	"hypoglycemia":        "hypoglycemia", // proposed: hypoglycemia_l2 (escalates to critical below 54 mg/dL)
	"fever":               "fever",
	"fall":                "fall_no_motion",
	"sos":                 "sos",
	"apnea":               "apnea",
	"bradycardia":         "bradycardia", // proposed: infant_bradycardia (infant pack)
	"desaturation":        "spo2_low",
	"device_offline":      "device_offline",
	"lead_off":            "ecg_signal_poor", // proposed: ecg_lead_off
}
