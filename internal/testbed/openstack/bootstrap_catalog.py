#!/usr/bin/python3
"""Idempotently create service project, service users and catalog entries."""
import sys
from keystoneauth1.identity import v3
from keystoneauth1 import session
from keystoneclient.v3 import client

auth_url, admin_pass, svc_pass = sys.argv[1:4]
services = [  # name, type, url, user
    ('nova', 'compute', 'http://127.0.0.1:8774/v2.1', 'nova'),
    ('placement', 'placement', 'http://127.0.0.1:8778', 'placement'),
    ('glance', 'image', 'http://127.0.0.1:9292', 'glance'),
    ('neutron', 'network', 'http://127.0.0.1:9696', 'neutron'),
    
]
s = session.Session(auth=v3.Password(auth_url=auth_url, username='admin', password=admin_pass,
                                     project_name='admin', user_domain_id='default',
                                     project_domain_id='default'))
ks = client.Client(session=s)
dom = ks.domains.get('default')
proj = ks.projects.list(name='service', domain=dom)
proj = proj[0] if proj else ks.projects.create('service', dom, description='Service Project')
admin_role = ks.roles.list(name='admin')[0]
for r in ('member', 'reader', 'service'):
    if not ks.roles.list(name=r):
        ks.roles.create(r)
service_role = ks.roles.list(name='service')[0]
for name, stype, url, user in services:
    u = ks.users.list(name=user, domain=dom)
    u = u[0] if u else ks.users.create(user, domain=dom, password=svc_pass)
    ks.users.update(u, password=svc_pass)
    ks.roles.grant(admin_role, user=u, project=proj)
    ks.roles.grant(service_role, user=u, project=proj)
    svc = ks.services.list(type=stype)
    svc = svc[0] if svc else ks.services.create(name, stype)
    existing = {e.interface: e for e in ks.endpoints.list(service=svc)}
    for iface in ('public', 'internal', 'admin'):
        if iface in existing:
            if existing[iface].url != url:
                ks.endpoints.update(existing[iface], url=url)
        else:
            ks.endpoints.create(svc, url, interface=iface, region='RegionOne')
print('catalog ok')
