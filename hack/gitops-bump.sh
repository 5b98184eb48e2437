#!/usr/bin/env bash
# Sets the Sisporta image tag in the GitOps repository that Argo CD deploys
# from, and pushes the change: Argo CD then rolls the operator to the new
# image, and with it (SISPORTA_RUNNER_IMAGE) every extractor and worker.
#
#   GITOPS_REPO=git@bitbucket.org:acme/gitops.git \
#   GITOPS_FILE=apps/sisporta/values.yaml hack/gitops-bump.sh v1.2.3
#
# GITOPS_BRANCH defaults to main. The file marks the line holding the tag
# with the comment "# sisporta-image-tag", e.g. in the chart's values:
#   image:
#     tag: v1.2.2  # sisporta-image-tag
# A marker rather than a YAML rewrite keeps the file's comments and layout.
set -euo pipefail

tag=${1:-}
marker='# sisporta-image-tag'
die() { echo "gitops-bump: $*" >&2; exit 1; }

[[ -n "$tag" ]] || die "usage: hack/gitops-bump.sh TAG (with GITOPS_REPO and GITOPS_FILE set)"
[[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "\"$tag\" is not a valid image tag (letters, digits, _ . -)"
[[ -n "${GITOPS_REPO:-}" ]] || die "set GITOPS_REPO to the URL of the GitOps repository Argo CD deploys from"
[[ -n "${GITOPS_FILE:-}" ]] || die "set GITOPS_FILE to the file in it whose image tag line ends in '$marker'"
branch=${GITOPS_BRANCH:-main}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone --quiet --branch "$branch" "$GITOPS_REPO" "$work/repo" ||
  die "cannot clone branch $branch of $GITOPS_REPO: check the URL, GITOPS_BRANCH and the pipeline's SSH key"
cd "$work/repo"
[[ -f "$GITOPS_FILE" ]] || die "$GITOPS_FILE is not in $GITOPS_REPO (branch $branch): set GITOPS_FILE to the values file holding the image tag"
n=$(grep -c -- "$marker" "$GITOPS_FILE" || true)
[[ "$n" == 1 ]] || die "$GITOPS_FILE must have exactly one line ending in '$marker' (found $n), e.g.:  tag: v1.0.0  $marker"

sed -E -i "s|^([[:space:]]*[A-Za-z0-9_.-]+:[[:space:]]*).*[[:space:]]*($marker)[[:space:]]*\$|\\1\"$tag\"  \\2|" "$GITOPS_FILE"
if git diff --quiet; then
  echo "gitops-bump: $GITOPS_FILE already runs image tag $tag"
  exit 0
fi
git -c user.name="${GIT_AUTHOR_NAME:-Sisporta CI}" -c user.email="${GIT_AUTHOR_EMAIL:-ci@sisporta.invalid}" \
  commit --quiet -am "sisporta: image tag $tag"
# Another pipeline may have pushed meanwhile: rebase on it and try again.
for attempt in 1 2 3; do
  if git push --quiet origin "HEAD:$branch"; then
    echo "gitops-bump: $GITOPS_FILE now runs image tag $tag"
    exit 0
  fi
  [[ $attempt == 3 ]] && break
  git -c user.name="${GIT_AUTHOR_NAME:-Sisporta CI}" -c user.email="${GIT_AUTHOR_EMAIL:-ci@sisporta.invalid}" \
    pull --quiet --rebase origin "$branch"
done
die "could not push to $GITOPS_REPO branch $branch: check that the pipeline's SSH key may write there"
