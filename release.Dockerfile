# The release image (goreleaser dockers_v2, .goreleaser.yaml): the gate
# binary goreleaser built for the platform, on a static, non-root base.
# gate needs no shell and no git binary: it reads repositories with go-git
# and renders kustomize, Helm and Rego in process.
FROM gcr.io/distroless/static-debian12:nonroot
ARG TARGETPLATFORM
COPY $TARGETPLATFORM/gate /usr/local/bin/gate
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/gate"]
