"""What a real node's cluster runs besides the project: cluster DNS and an S3 store, as pods.

* CoreDNS in ``kube-system`` behind the Service ``kube-dns`` at
  :data:`devcluster.realnode.CLUSTER_DNS`, serving ``cluster.local`` from the
  API (the ``kubernetes`` plugin). It forwards nothing: names outside the
  cluster get NXDOMAIN, so no pod query ever leaves this machine.
* versitygw (:mod:`devcluster.nodeimages`) as the Deployment and Service
  ``s3`` in a namespace of the caller's, with root credentials from a Secret
  and its data in an emptyDir. versitygw's posix backend serves every
  top-level directory as a bucket, so an init container creates the bucket's.
"""

from __future__ import annotations

from .realnode import CLUSTER_DNS, CLUSTER_DOMAIN

#: CoreDNS listens here in its pod (a non-root process cannot bind 53); the Service maps 53 to it.
DNS_PORT = 1053

#: Pod Security "restricted" for a container: what every add-on pod sets.
RESTRICTED = {
    "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
}

COREFILE = f""".:{DNS_PORT} {{
    errors
    health :8080
    ready :8181
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 5
    loop
    reload
}}
"""


def coredns_manifests(image: str) -> list[dict]:
    """CoreDNS's ServiceAccount, RBAC, Corefile, Deployment (one replica) and Service."""
    name, ns = "coredns", "kube-system"
    labels = {"k8s-app": "kube-dns"}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "system:coredns"},
         "rules": [{"apiGroups": [""], "resources": ["services", "pods", "namespaces"], "verbs": ["list", "watch"]},
                   {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "system:coredns"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:coredns"},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}]},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns},
         "data": {"Corefile": COREFILE}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns, "labels": labels},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
             "metadata": {"labels": labels},
             "spec": {
                 "serviceAccountName": name, "dnsPolicy": "Default", "priorityClassName": "system-cluster-critical",
                 "containers": [{
                     "name": "coredns", "image": image, "imagePullPolicy": "Never",
                     "args": ["-conf", "/etc/coredns/Corefile"],
                     "ports": [{"name": "dns", "containerPort": DNS_PORT, "protocol": "UDP"},
                               {"name": "dns-tcp", "containerPort": DNS_PORT, "protocol": "TCP"}],
                     "securityContext": RESTRICTED,
                     "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}, "periodSeconds": 2},
                     "livenessProbe": {"httpGet": {"path": "/health", "port": 8080}, "periodSeconds": 10},
                     "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
                     "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns", "readOnly": True}],
                 }],
                 "volumes": [{"name": "config", "configMap": {"name": name}}],
             }}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kube-dns", "namespace": ns, "labels": labels},
         "spec": {"clusterIP": CLUSTER_DNS, "selector": labels,
                  "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": DNS_PORT},
                            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": DNS_PORT}]}},
    ]


S3_PORT = 7070


def s3_manifests(image: str, namespace: str, secret: str, bucket: str) -> list[dict]:
    """versitygw as Deployment and Service ``s3`` in ``namespace``: root credentials from the Secret
    ``secret`` (keys ``accessKey``, ``secretKey``, as the chart's), ``bucket`` created at start.

    Endpoint, as pods see it: ``s3.<namespace>.svc.cluster.local:7070`` (plain HTTP).
    """
    labels = {"app.kubernetes.io/name": "s3"}
    creds = [{"name": "ROOT_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": secret, "key": "accessKey"}}},
             {"name": "ROOT_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": secret, "key": "secretKey"}}}]
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "s3", "namespace": namespace},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
             "metadata": {"labels": labels},
             "spec": {
                 "automountServiceAccountToken": False,
                 "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                                     "fsGroup": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
                 # versitygw's posix backend serves each top-level directory as a bucket.
                 "initContainers": [{"name": "bucket", "image": image, "imagePullPolicy": "Never",
                                     "command": ["/bin/mkdir", "-p", f"/data/{bucket}"],
                                     "securityContext": RESTRICTED,
                                     "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                 "containers": [{
                     "name": "versitygw", "image": image, "imagePullPolicy": "Never",
                     "args": ["--port", f":{S3_PORT}", "--region", "us-east-1", "posix", "--sidecar", "/meta", "/data"],
                     "env": creds,
                     "ports": [{"name": "s3", "containerPort": S3_PORT}],
                     "readinessProbe": {"tcpSocket": {"port": S3_PORT}, "periodSeconds": 2},
                     "securityContext": RESTRICTED,
                     "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}},
                     "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "meta", "mountPath": "/meta"}],
                 }],
                 "volumes": [{"name": "data", "emptyDir": {}}, {"name": "meta", "emptyDir": {}}],
             }}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s3", "namespace": namespace},
         "spec": {"selector": labels, "ports": [{"name": "s3", "port": S3_PORT, "targetPort": S3_PORT}]}},
    ]
