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
