package kubeletapi

import (
	"testing"
	"time"
)

func TestStatusNamesTheSelfSignedCertificate(t *testing.T) {
	cfg := openConfig(t, writeLogs(t))
	cfg.Address = "127.0.0.1"
	s, err := New(cfg, newFakePods(), fakeContainers{})
	if err != nil {
		t.Fatal(err)
	}
	st := s.Status()
	if st.Address != "127.0.0.1:10250" || st.CertificateSource != CertificateSelfSigned || st.Waiting != "" ||
		time.Until(st.NotAfter) < 300*24*time.Hour {
		t.Errorf("status %+v, want a self-signed certificate valid for a year on 127.0.0.1:10250", st)
	}
}
