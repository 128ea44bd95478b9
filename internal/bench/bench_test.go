package bench

import (
	"slices"
	"testing"
	"time"
)

func TestValidateScenariosInOrderOnce(t *testing.T) {
	f := benchFlags{scenarios: "subscribers, push,push", duration: time.Second, subscribers: 1, catchupEntities: 1, surgePosts: 1000, protocol: "h2c"}
	got, err := f.validate()
	if want := []string{"push", "subscribers"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("validate() = %v, %v; want %v", got, err, want)
	}
}

func TestValidateClusterOnlyByNameAndInProcess(t *testing.T) {
	f := benchFlags{scenarios: "all", duration: time.Second, subscribers: 1, catchupEntities: 1, surgePosts: 1000, protocol: "h2c"}
	got, err := f.validate()
	if err != nil || slices.Contains(got, clusterScenario) {
		t.Errorf("validate(all) = %v, %v; want every scenario but %s", got, err, clusterScenario)
	}
	f.scenarios = "cluster,push"
	if got, err := f.validate(); err != nil || !slices.Equal(got, []string{"push", clusterScenario}) {
		t.Errorf("validate(cluster,push) = %v, %v; want [push cluster]", got, err)
	}
	f.addr, f.joinCode = "127.0.0.1:8080", "CODE"
	if _, err := f.validate(); err == nil {
		t.Error("validate(cluster) with --addr: no error, want one (the cluster runs in process)")
	}
}
