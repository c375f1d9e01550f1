package openstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/quotasets"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/imagedata"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
)

// AuthOptions are the admin credentials, as gophercloud takes them.
func AuthOptions() gophercloud.AuthOptions {
	return gophercloud.AuthOptions{
		IdentityEndpoint: KeystoneURL,
		Username:         AdminUser,
		Password:         AdminPassword,
		DomainName:       Domain,
		TenantName:       AdminProject,
		AllowReauth:      true,
	}
}

// Env is the admin's OS_* variables (what an openrc sets).
func Env() []string {
	return []string{
		"OS_AUTH_URL=" + KeystoneURL,
		"OS_IDENTITY_API_VERSION=3",
		"OS_USERNAME=" + AdminUser,
		"OS_PASSWORD=" + AdminPassword,
		"OS_PROJECT_NAME=" + AdminProject,
		"OS_USER_DOMAIN_NAME=" + Domain,
		"OS_PROJECT_DOMAIN_NAME=" + Domain,
		"OS_REGION_NAME=" + Region,
		"OS_INTERFACE=public",
	}
}

// CloudsYAML is the path of the clouds.yaml naming the bed CloudName
// (OS_CLIENT_CONFIG_FILE=… OS_CLOUD=vigil-testbed), and OpenRC that of a
// shell file exporting Env.
func (b *Bed) CloudsYAML() string { return filepath.Join(b.cfg.Dir, "clouds.yaml") }
func (b *Bed) OpenRC() string     { return filepath.Join(b.cfg.Dir, "openrc") }

func (b *Bed) writeClientFiles() error {
	clouds := fmt.Sprintf(`clouds:
  %s:
    auth:
      auth_url: %s
      username: %s
      password: %s
      project_name: %s
      user_domain_name: %s
      project_domain_name: %s
    region_name: %s
    interface: public
    identity_api_version: 3
`, CloudName, KeystoneURL, AdminUser, AdminPassword, AdminProject, Domain, Domain, Region)
	var rc strings.Builder
	for _, kv := range Env() {
		fmt.Fprintf(&rc, "export %s\n", kv)
	}
	return errors.Join(
		os.WriteFile(b.CloudsYAML(), []byte(clouds), 0o600),
		os.WriteFile(b.OpenRC(), []byte(rc.String()), 0o600))
}

// Provider returns an authenticated admin client, made once per Bed.
func (b *Bed) Provider(ctx context.Context) (*gophercloud.ProviderClient, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.client != nil {
		return b.client, nil
	}
	pc, err := openstack.AuthenticatedClient(ctx, AuthOptions())
	if err != nil {
		return nil, fmt.Errorf("openstack testbed: authenticate: %w", err)
	}
	b.client = pc
	return pc, nil
}

// Compute returns an admin compute client at microversion mv ("2.79").
func (b *Bed) Compute(ctx context.Context, mv string) (*gophercloud.ServiceClient, error) {
	pc, err := b.Provider(ctx)
	if err != nil {
		return nil, err
	}
	c, err := openstack.NewComputeV2(pc, gophercloud.EndpointOpts{Region: Region})
	if err != nil {
		return nil, fmt.Errorf("openstack testbed: compute client: %w", err)
	}
	c.Microversion = mv
	return c, nil
}

// seed makes the flavor and the image if missing, and lifts the admin
// project's compute quota (10 instances by default).
func (b *Bed) seed(ctx context.Context) error {
	nova, err := b.Compute(ctx, "2.79")
	if err != nil {
		return err
	}
	if _, err := b.FlavorID(ctx); err != nil {
		public := true
		_, err := flavors.Create(ctx, nova, flavors.CreateOpts{Name: FlavorName, RAM: 64, VCPUs: 1, Disk: gophercloud.IntToPointer(1), IsPublic: &public}).Extract()
		if err != nil {
			return fmt.Errorf("openstack testbed: create flavor: %w", err)
		}
	}
	if _, err := b.ImageID(ctx); err != nil {
		if err := b.createImage(ctx); err != nil {
			return err
		}
	}
	pc, err := b.Provider(ctx)
	if err != nil {
		return err
	}
	project, err := tokens.Get(ctx, identity(pc), pc.Token()).ExtractProject()
	if err != nil {
		return fmt.Errorf("openstack testbed: token project: %w", err)
	}
	unlimited := gophercloud.IntToPointer(-1)
	_, err = quotasets.Update(ctx, nova, project.ID, quotasets.UpdateOpts{Instances: unlimited, Cores: unlimited, RAM: unlimited}).Extract()
	if err != nil {
		return fmt.Errorf("openstack testbed: quota: %w", err)
	}
	return nil
}

func identity(pc *gophercloud.ProviderClient) *gophercloud.ServiceClient {
	c, _ := openstack.NewIdentityV3(pc, gophercloud.EndpointOpts{})
	return c
}

func (b *Bed) createImage(ctx context.Context) error {
	pc, err := b.Provider(ctx)
	if err != nil {
		return err
	}
	glance, err := openstack.NewImageV2(pc, gophercloud.EndpointOpts{Region: Region})
	if err != nil {
		return fmt.Errorf("openstack testbed: image client: %w", err)
	}
	img, err := images.Create(ctx, glance, images.CreateOpts{Name: ImageName, DiskFormat: "raw", ContainerFormat: "bare", Visibility: ptr(images.ImageVisibilityPublic)}).Extract()
	if err != nil {
		return fmt.Errorf("openstack testbed: create image: %w", err)
	}
	if err := imagedata.Upload(ctx, glance, img.ID, bytes.NewReader(make([]byte, 1<<20))).ExtractErr(); err != nil {
		return fmt.Errorf("openstack testbed: upload image: %w", err)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// FlavorID is the id of FlavorName.
func (b *Bed) FlavorID(ctx context.Context) (string, error) {
	nova, err := b.Compute(ctx, "2.79")
	if err != nil {
		return "", err
	}
	pages, err := flavors.ListDetail(nova, flavors.ListOpts{AccessType: flavors.AllAccess}).AllPages(ctx)
	if err != nil {
		return "", fmt.Errorf("openstack testbed: list flavors: %w", err)
	}
	all, err := flavors.ExtractFlavors(pages)
	if err != nil {
		return "", err
	}
	for _, f := range all {
		if f.Name == FlavorName {
			return f.ID, nil
		}
	}
	return "", fmt.Errorf("openstack testbed: no flavor %s", FlavorName)
}

// ImageID is the id of the active ImageName.
func (b *Bed) ImageID(ctx context.Context) (string, error) {
	pc, err := b.Provider(ctx)
	if err != nil {
		return "", err
	}
	glance, err := openstack.NewImageV2(pc, gophercloud.EndpointOpts{Region: Region})
	if err != nil {
		return "", err
	}
	pages, err := images.List(glance, images.ListOpts{Name: ImageName}).AllPages(ctx)
	if err != nil {
		return "", fmt.Errorf("openstack testbed: list images: %w", err)
	}
	all, err := images.ExtractImages(pages)
	if err != nil {
		return "", err
	}
	for _, img := range all {
		if img.Status == images.ImageStatusActive {
			return img.ID, nil
		}
	}
	return "", fmt.Errorf("openstack testbed: no active image %s", ImageName)
}

// poll calls check every interval until it returns nil, or ctx ends.
func poll(ctx context.Context, interval time.Duration, what string, check func() error) error {
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("openstack testbed: %s: %w (last: %v)", what, ctx.Err(), err)
		case <-time.After(interval):
		}
	}
}
