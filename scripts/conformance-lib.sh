# Shared by scripts/conformance.sh and scripts/conformance-replicas.sh (sourced, not run):
# run the OCI conformance binary against http://127.0.0.1:$PORT, all four categories, with a registry
# password of the account in $WORK/root.json when AUTH=iam. Needs PY, WORK, PORT, REPORT_DIR, AUTH and
# CONFORMANCE_BIN set; fails (non-zero) unless the suite succeeded.
run_conformance() {
  if [ "$AUTH" = iam ]; then
    OCI_PASSWORD="$("$PY" - "$WORK/root.json" "http://127.0.0.1:$PORT" <<'PY'
import base64, json, sys
import boto3
root = json.load(open(sys.argv[1]))
ecr = boto3.client("ecr", endpoint_url=sys.argv[2], region_name=root["region"],
                   aws_access_key_id=root["access_key_id"], aws_secret_access_key=root["secret_access_key"])
token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
print(base64.b64decode(token).decode().split(":", 1)[1])
PY
)"
    export OCI_USERNAME=AWS OCI_PASSWORD
    echo "conformance with credentials: OCI_USERNAME=AWS, a registry password of account $(jq -r .account_id "$WORK/root.json")"
  fi

  export OCI_ROOT_URL="http://127.0.0.1:$PORT" OCI_NAMESPACE=myorg/myrepo OCI_CROSSMOUNT_NAMESPACE=myorg/other
  export OCI_TEST_PULL=1 OCI_TEST_PUSH=1 OCI_TEST_CONTENT_DISCOVERY=1 OCI_TEST_CONTENT_MANAGEMENT=1
  export OCI_AUTOMATIC_CROSSMOUNT="${OCI_AUTOMATIC_CROSSMOUNT:-1}" OCI_HIDE_SKIPPED_WORKFLOWS=0 OCI_DEBUG=0
  export OCI_DELETE_MANIFEST_BEFORE_BLOBS=1 OCI_REPORT_DIR="$REPORT_DIR"
  [ "$OCI_AUTOMATIC_CROSSMOUNT" = 0 ] && unset OCI_AUTOMATIC_CROSSMOUNT
  (cd "$WORK" && "$CONFORMANCE_BIN" -ginkgo.no-color) | tee "$REPORT_DIR/conformance.log" | grep -E "^(Ran|FAIL|PASS|SUCCESS)|\[FAIL\]" || true
  grep -qE "^SUCCESS!|^PASS$" "$REPORT_DIR/conformance.log"
}
