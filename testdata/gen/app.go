package main

import (
	"fmt"
	"strings"
)

const kustHeader = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"

func writeApp(w *writer, a *app) {
	base := "apps/" + a.Name + "/base"
	res := []string{"deployment.yaml", "service.yaml", "serviceaccount.yaml", "hpa.yaml", "pdb.yaml", "probe.yaml"}
	if a.Web {
		res = append(res, "ingress.yaml", "certificate.yaml")
	}
	var k strings.Builder
	k.WriteString(kustHeader)
	fmt.Fprintf(&k, "labels:\n  - pairs:\n      app.kubernetes.io/name: %s\n      app.kubernetes.io/part-of: shop\n    includeSelectors: true\n", a.Name)
	k.WriteString("resources:\n")
	for _, r := range res {
		fmt.Fprintf(&k, "  - %s\n", r)
	}
	fmt.Fprintf(&k, "configMapGenerator:\n  - name: %s-config\n    files:\n      - config/app.properties\n    literals:\n      - LOG_LEVEL=info\n      - PORT=%d\n", a.Name, a.Port)
	w.write(base+"/kustomization.yaml", k.String())
	w.write(base+"/config/app.properties", fmt.Sprintf("service.name=%s\nservice.port=%d\ncache.ttl=300\nfeature.flags=alpha,beta\nupstream.timeout=5s\n", a.Name, a.Port))

	limits := `            limits:
              cpu: 500m
              memory: 256Mi
`
	if a.NoLimits {
		limits = ""
	}
	w.write(base+"/deployment.yaml", fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  annotations:
    gate.example/owner: team-%[1]s
spec:
  replicas: 1
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      component: server
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%%
      maxUnavailable: 0
  template:
    metadata:
      labels:
        component: server
    spec:
      serviceAccountName: %[1]s
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        fsGroup: 10001
      containers:
        - name: server
          image: registry.gate.example/%[1]s:%[2]s
          args: ["--config", "/etc/%[1]s/app.properties"]
          ports:
            - name: http
              containerPort: %[3]d
          env:
            - name: POD_NAME
              valueFrom:
                fieldRef:
                  fieldPath: metadata.name
          envFrom:
            - configMapRef:
                name: env-settings
          readinessProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: 10
          livenessProbe:
            httpGet:
              path: /livez
              port: http
            initialDelaySeconds: 10
          resources:
            requests:
              cpu: 100m
              memory: 128Mi
%[4]s          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: ["ALL"]
          volumeMounts:
            - name: config
              mountPath: /etc/%[1]s
      volumes:
        - name: config
          configMap:
            name: %[1]s-config
`, a.Name, a.Version, a.Port, limits))
	w.write(base+"/service.yaml", fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %s
spec:
  type: ClusterIP
  selector:
    component: server
  ports:
    - name: http
      port: 80
      targetPort: http
      protocol: TCP
`, a.Name))
	w.write(base+"/serviceaccount.yaml", fmt.Sprintf("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: %s\nautomountServiceAccountToken: false\n", a.Name))
	w.write(base+"/hpa.yaml", fmt.Sprintf(`apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: %[1]s
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: %[1]s
  minReplicas: 1
  maxReplicas: 4
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: 75
`, a.Name))
	w.write(base+"/pdb.yaml", fmt.Sprintf(`apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: %s
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      component: server
`, a.Name))
	w.write(base+"/probe.yaml", fmt.Sprintf(`apiVersion: monitoring.gate.example/v1
kind: Probe
metadata:
  name: %[1]s
spec:
  target: http://%[1]s/healthz
  intervalSeconds: 30
  timeoutSeconds: 5
`, a.Name))
	if a.Web {
		w.write(base+"/ingress.yaml", fmt.Sprintf(`apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: %[1]s
  annotations:
    gate.example/rate-limit: "100"
spec:
  ingressClassName: nginx
  tls:
    - hosts: ["%[1]s.shop.gate.example"]
      secretName: %[1]s-tls
  rules:
    - host: %[1]s.shop.gate.example
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: %[1]s
                port:
                  name: http
`, a.Name))
		w.write(base+"/certificate.yaml", fmt.Sprintf(`apiVersion: certs.gate.example/v1
kind: Certificate
metadata:
  name: %[1]s
spec:
  secretName: %[1]s-tls
  dnsNames:
    - %[1]s.shop.gate.example
  issuer: letsencrypt
  renewBefore: 720h
`, a.Name))
	}

	for _, t := range tiers {
		ov := "apps/" + a.Name + "/overlays/" + t
		var k strings.Builder
		k.WriteString(kustHeader)
		k.WriteString("resources:\n  - ../../base\n")
		fmt.Fprintf(&k, "commonAnnotations:\n  gate.example/tier: %s\n", t)
		switch t {
		case "production":
			k.WriteString("patches:\n  - path: production.yaml\n  - target:\n      kind: HorizontalPodAutoscaler\n    patch: |-\n      - op: replace\n        path: /spec/minReplicas\n        value: 3\n      - op: replace\n        path: /spec/maxReplicas\n        value: 12\n")
			w.write(ov+"/production.yaml", fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %s
spec:
  replicas: 3
  template:
    spec:
      containers:
        - name: server
          resources:
            requests:
              cpu: 250m
              memory: 256Mi
`, a.Name))
		case "staging":
			k.WriteString("patches:\n  - target:\n      kind: Deployment\n    patch: |-\n      - op: replace\n        path: /spec/replicas\n        value: 2\n")
		case "development":
			fmt.Fprintf(&k, "configMapGenerator:\n  - name: %s-config\n    behavior: merge\n    literals:\n      - LOG_LEVEL=debug\n", a.Name)
			if a.LatestDev {
				fmt.Fprintf(&k, "images:\n  - name: registry.gate.example/%s\n    newTag: latest\n", a.Name)
			}
		}
		w.write(ov+"/kustomization.yaml", k.String())
	}
}
