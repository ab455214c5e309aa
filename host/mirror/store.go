package mirror

import (
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
)

// notifyingStore is the cache a reflector fills, telling the manager which keys changed. It is the only
// state shared between the reflector's goroutine and the manager's worker, and it is thread-safe.
type notifyingStore struct {
	cache.Store
	changed func(key string)
	// replaced is called after a full list replaced the content.
	replaced func()
	synced   atomic.Bool
}

func newNotifyingStore(changed func(string), replaced func()) *notifyingStore {
	return &notifyingStore{Store: cache.NewStore(cache.DeletionHandlingMetaNamespaceKeyFunc), changed: changed, replaced: replaced}
}

func strip(obj interface{}) interface{} {
	switch o := obj.(type) {
	case *corev1.Pod:
		o.ManagedFields = nil
	case *corev1.Node:
		o.ManagedFields = nil
		o.Status.Images = nil
	}
	return obj
}

func (s *notifyingStore) Add(obj interface{}) error {
	if err := s.Store.Add(strip(obj)); err != nil {
		return err
	}
	s.notify(obj)
	return nil
}

func (s *notifyingStore) Update(obj interface{}) error {
	if err := s.Store.Update(strip(obj)); err != nil {
		return err
	}
	s.notify(obj)
	return nil
}

func (s *notifyingStore) Delete(obj interface{}) error {
	if err := s.Store.Delete(obj); err != nil {
		return err
	}
	s.notify(obj)
	return nil
}

func (s *notifyingStore) Replace(list []interface{}, resourceVersion string) error {
	before := s.Store.ListKeys()
	for _, obj := range list {
		strip(obj)
	}
	if err := s.Store.Replace(list, resourceVersion); err != nil {
		return err
	}
	for _, k := range before {
		s.changed(k)
	}
	for _, obj := range list {
		s.notify(obj)
	}
	s.synced.Store(true)
	s.replaced()
	return nil
}

func (s *notifyingStore) Resync() error { return nil }

func (s *notifyingStore) notify(obj interface{}) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		s.changed(key)
	}
}

func (s *notifyingStore) pod(key string) *corev1.Pod {
	obj, ok, err := s.Store.GetByKey(key)
	if err != nil || !ok {
		return nil
	}
	p, _ := obj.(*corev1.Pod)
	return p
}

func (s *notifyingStore) node(name string) *corev1.Node {
	obj, ok, err := s.Store.GetByKey(name)
	if err != nil || !ok {
		return nil
	}
	n, _ := obj.(*corev1.Node)
	return n
}
