package front

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/staticlet/staticlet/host/pod"
)

// WatchMirrors reports to rt the status the kubelet writes on its mirror
// pods on nodeName (matched by their config.mirror hash, which is the served
// UID), until ctx is done. It only reads: the mirror pods are the kubelet's.
func WatchMirrors(ctx context.Context, client kubernetes.Interface, nodeName string, rt *Runtime) {
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", nodeName).String()
	}))
	observe := func(obj interface{}) {
		p, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		if hash, ok := p.Annotations[pod.AnnotationConfigMirror]; ok && p.DeletionTimestamp == nil {
			rt.Observe(types.UID(hash), p.Status)
		}
	}
	forget := func(obj interface{}) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if p, ok := obj.(*corev1.Pod); ok {
			if hash, ok := p.Annotations[pod.AnnotationConfigMirror]; ok {
				rt.Forget(types.UID(hash))
			}
		}
	}
	_, _ = factory.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    observe,
		UpdateFunc: func(_, obj interface{}) { observe(obj) },
		DeleteFunc: forget,
	})
	factory.Start(ctx.Done())
	<-ctx.Done()
	factory.Shutdown()
}
