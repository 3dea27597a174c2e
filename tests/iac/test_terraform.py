"""deploy/terraform proven with real Terraform, offline.

- `terraform fmt -check` over the tree, `terraform validate` of every example;
- each module's `terraform test` (mock providers, plans), and proof that each of those
  assertions fails when the thing it checks is broken (MUTATIONS);
- every example applied to moto's server and destroyed again, what it built read back from
  moto's own API, and the chain: `bedrock-link discover` lists exactly the endpoints Terraform
  created and `bedrock-link dns serve` with the generated configuration answers their names
  with their ENI addresses.

Run by tests/run-all.sh (BEDROCK_LINK_BIN is the built binary)."""

import json
import os
import pathlib
import shutil
import subprocess
import time
import urllib.request

import pytest

from conftest import BIN, DEPLOY, HERE, SAFE_ENV, Process, address_key, binary, dig, free_port

APP_REGION = "ap-southeast-6"
ENDPOINT_REGION = "ap-southeast-2"
IMAGE = "registry.invalid/bedrock-link:test"
EXAMPLES = ["new-vpcs", "existing-app-vpc", "phz-fallback", "hub-and-spoke"]
MODULES = ["interconnect", "interconnect/modules/vpc", "resolver"]


def test_terraform_is_formatted(terraform):
    out = terraform(DEPLOY / "terraform", "fmt", "-check", "-recursive", "-diff", check=False)
    assert out.returncode == 0, f"run `terraform fmt -recursive deploy/terraform`:\n{out.stdout}"
    terraform(HERE / "fixtures", "fmt", "-check", "-recursive")


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_validates(terraform, deploy_copy, example):
    path = deploy_copy / "terraform" / "examples" / example
    terraform(path, "init", "-backend=false", "-input=false")
    out = terraform(path, "validate")
    assert "Success! The configuration is valid." in out.stdout


def run_module_tests(terraform, path, *args):
    out = terraform(path, "test", *args, check=False)
    return out.returncode, out.stdout + out.stderr


@pytest.mark.parametrize("module", MODULES)
def test_module_tests_pass(terraform, deploy_copy, module):
    path = deploy_copy / "terraform" / "modules" / module
    terraform(path, "init", "-backend=false", "-input=false")
    code, log = run_module_tests(terraform, path)
    assert code == 0, log
    assert "skip" not in log, log
    assert " 0 failed" in log, log


# Each assertion of the module tests, shown to fail when the thing it checks is broken: a
# one-line change to the module that reintroduces a real mistake, and the run that must then
# fail. (module, file, text, replacement, test file, run)
MUTATIONS = [
    ("interconnect", "peering.tf", "route_table_id            = each.value.route_table_id\n  destination_cidr_block    = each.value.cidr\n  vpc_peering_connection_id = local.peered ? aws_vpc_peering_connection.this[0].id : null\n  transit_gateway_id        = local.peered ? null : var.app_transit_gateway_id",
     "route_table_id            = values(local.app_route_tables)[0]\n  destination_cidr_block    = each.value.cidr\n  vpc_peering_connection_id = local.peered ? aws_vpc_peering_connection.this[0].id : null\n  transit_gateway_id        = local.peered ? null : var.app_transit_gateway_id",
     "new_vpcs", "routes_both_ways"),
    ("interconnect", "peering.tf", "for cidr in local.app_vpc_cidrs :", "for cidr in [local.app_vpc_cidrs[0]] :",
     "existing_vpcs", "routes_to_private_tables_and_back_to_every_app_cidr"),
    ("interconnect", "peering.tf", '!anytrue([for r in rt.routes : startswith(coalesce(r.gateway_id, "-"), "igw-")])', "true",
     "existing_vpcs", "routes_to_private_tables_and_back_to_every_app_cidr"),
    ("interconnect", "endpoints.tf", "  cidr_ipv4         = each.value\n", '  cidr_ipv4         = "0.0.0.0/0"\n',
     "new_vpcs", "endpoint_security_group_admits_443_from_app_cidrs_only"),
    ("interconnect", "endpoints.tf", "  from_port         = 443\n  to_port           = 443\n  cidr_ipv4         = each.value",
     "  from_port         = 0\n  to_port           = 65535\n  cidr_ipv4         = each.value",
     "new_vpcs", "endpoint_security_group_admits_443_from_app_cidrs_only"),
    ("interconnect", "endpoints.tf", "  # its CIDRs the same way, and no deployment rewrites another's.\n",
     "  # its CIDRs the same way, and no deployment rewrites another's.\n  ingress {\n    from_port   = 443\n    to_port     = 443\n    protocol    = \"tcp\"\n    cidr_blocks = local.app_allowed_cidrs\n  }\n",
     "new_vpcs", "endpoint_security_group_admits_443_from_app_cidrs_only"),
    ("interconnect", "endpoints.tf", "condition     = length(local.app_allowed_outside) == 0", "condition     = var.name != \"\"",
     "existing_vpcs", "allowed_cidrs_outside_the_app_vpc_are_refused"),
    ("interconnect", "endpoints.tf", "private_dns_enabled = each.value.private_dns_enabled", "private_dns_enabled = true",
     "new_vpcs", "one_endpoint_per_service_with_its_private_dns_setting"),
    ("interconnect", "endpoints.tf", "k => one([for d in e.dns_entry : d if can(regex(\"^${e.id}-[0-9a-z]+\\\\.\", d.dns_name))])",
     "k => e.dns_entry[0]", "new_vpcs", "phz_mode_aliases_each_hostname_to_the_regional_name"),
    ("interconnect", "phz.tf", 'phz_services = var.dns_mode == "phz" ? local.peering_services : {}', "phz_services = local.peering_services",
     "new_vpcs", "resolver_mode_has_no_zones_and_a_discovery_endpoint"),
    ("interconnect", "main.tf", "condition     = !local.app_vpc_needs_dns_hostnames || self.enable_dns_hostnames", "condition     = var.name != \"\"",
     "existing_vpcs", "phz_mode_needs_dns_hostnames_in_the_app_vpc"),
    ("interconnect", "main.tf", "condition     = !local.endpoint_vpc_needs_dns_hostnames || (self.enable_dns_support && self.enable_dns_hostnames)", "condition     = var.name != \"\"",
     "existing_vpcs", "private_dns_needs_dns_hostnames_in_an_existing_endpoint_vpc"),
    ("interconnect", "main.tf", "kms_key_arn    = var.endpoint_log_kms_key_arn", "kms_key_arn    = var.app_log_kms_key_arn",
     "new_vpcs", "kms_keys_per_region_are_accepted"),
    ("interconnect", "nat.tf", "nat_gateway_id         = aws_nat_gateway.app[local.nat_for_az[each.key]].id", "gateway_id             = aws_internet_gateway.app[0].id",
     "new_vpcs", "single_nat_gateway_serves_every_private_route_table"),
    ("interconnect", "peering.tf", 'var.app_route_table_scope == "all" ||', "false ||",
     "existing_vpcs", "scope_all_takes_every_route_table"),
    ("interconnect", "peering.tf", '{ for i, id in var.app_route_table_ids : "given-${i}" => id }', "{}",
     "existing_vpcs", "given_route_tables_are_used_as_given"),
    ("interconnect", "peering.tf", "{ for id in data.aws_route_tables.endpoint[0].ids : id => id }", "{}",
     "existing_vpcs", "existing_endpoint_vpc_routes_from_its_route_tables"),
    ("interconnect", "main.tf", "      for v in local.app_vpc_cidrs :", "      for v in [local.app_vpc_cidrs[0]] :",
     "existing_vpcs", "allowed_cidrs_inside_a_secondary_cidr_are_accepted"),
    ("interconnect", "main.tf", 'app_vpc_needs_dns_hostnames      = var.dns_mode == "phz" || length(var.app_interface_endpoints) + length(local.cross_region_services) > 0',
     "app_vpc_needs_dns_hostnames      = true", "existing_vpcs", "resolver_mode_needs_only_dns_support_in_the_app_vpc"),
    ("interconnect", "main.tf", "condition     = self.enable_dns_support", 'condition     = var.name != ""',
     "existing_vpcs", "dns_support_off_in_the_app_vpc_is_refused"),
    ("interconnect", "endpoints.tf", 'condition     = !var.create_endpoint_vpc || alltrue([for k, v in var.services : v.ip_address_type == "ipv4"])', 'condition     = var.name != ""',
     "new_vpcs", "dualstack_needs_an_existing_dual_stack_vpc"),
    ("interconnect", "flow_logs.tf", 'condition     = !lookup(local.flow_log_vpcs, "endpoint", false) || var.endpoint_log_kms_key_arn == null || try(split(":", var.endpoint_log_kms_key_arn)[3], "") == var.endpoint_region',
     'condition     = var.name != ""', "new_vpcs", "kms_key_must_be_in_the_log_groups_region"),
    ("interconnect", "flow_logs.tf", 'name_prefix = "${var.name}-flowlogs-"', 'name        = "${var.name}-vpc-flow-logs"',
     "new_vpcs", "flow_log_role_is_named_by_prefix"),
    ("interconnect", "variables.tf", '  default     = "none"', '  default     = "single"',
     "new_vpcs", "no_nat_gateway_by_default"),
    ("interconnect/modules/vpc", "main.tf", "enable_dns_support   = true", "enable_dns_support   = false",
     "vpc", "vpc_resolves_names"),
    ("interconnect/modules/vpc", "main.tf", "availability_zone       = var.availability_zones[tonumber(each.key) % length(var.availability_zones)]",
     "availability_zone       = var.availability_zones[0]", "vpc", "subnets_spread_over_the_zones_each_with_its_zones_route_table"),
    ("interconnect/modules/vpc", "main.tf", 'var.route_tables == "per_zone" ? az : "all"', '"all"',
     "vpc", "subnets_spread_over_the_zones_each_with_its_zones_route_table"),
    ("interconnect/modules/vpc", "main.tf", 'var.route_tables == "per_zone" ? az : "all"', "az",
     "vpc", "one_route_table_for_every_subnet"),
    ("interconnect/modules/vpc", "main.tf", "condition     = length(self.names) == length(var.availability_zones)", 'condition     = var.name != ""',
     "vpc", "zones_the_provider_lacks_are_refused"),
    ("interconnect/modules/vpc", "main.tf", 'traffic_type    = "ALL"', 'traffic_type    = "REJECT"',
     "vpc", "flow_logs_carry_all_traffic_to_the_vpcs_log_group"),
    ("interconnect/modules/vpc", "main.tf", "count = var.flow_logs == null ? 0 : 1\n\n  vpc_id", "count = 1\n\n  vpc_id",
     "vpc", "no_flow_logs_unless_asked"),
    ("resolver", "main.tf", 'own_capacity = local.is_nlb && var.launch_type == "EC2" && var.cluster_arn == null',
     'own_capacity = local.is_nlb && var.launch_type == "EC2"', "resolver", "dhcp_mode_on_a_cluster_of_ones_own_is_refused"),
    ("resolver", "main.tf", "condition     = !var.create_dhcp_options || local.own_capacity", 'condition     = var.name != ""',
     "resolver", "dhcp_in_daemon_mode_is_refused"),
    ("resolver", "main.tf", 'network_mode             = local.is_nlb ? "awsvpc" : "host"', 'network_mode             = "awsvpc"',
     "resolver", "daemon_mode_has_no_load_balancer_and_no_dhcp"),
    ("resolver", "nlb.tf", "(local.nlb_host_numbers[i] >= 4 && local.nlb_host_numbers[i] <= local.subnet_sizes[i] - 2)", "true",
     "resolver", "host_number_outside_a_subnet_is_refused"),
    ("resolver", "bedrock-link.toml.tftpl", "%{ if s.endpoint_url != null ~}", "%{ if false ~}",
     "resolver", "generated_config_serves_the_sources"),
    ("resolver", "main.tf", "} if s.health_check && length(s.endpoint_cidrs) > 0],", "} if false],",
     "resolver", "health_probes_may_reach_the_endpoint_vpc"),
    ("resolver", "bedrock-link.toml.tftpl", "health_check = ${s.health_check}\n", "",
     "resolver", "health_probes_may_reach_the_endpoint_vpc"),
    ("resolver", "nlb.tf", "    protocol    = \"udp\"\n    cidr_blocks = var.client_cidrs", "    protocol    = \"udp\"\n    cidr_blocks = [\"0.0.0.0/0\"]",
     "resolver", "security_group_admits_dns_from_the_client_cidrs_only"),
    ("resolver", "main.tf", '        "ec2:DescribeNetworkInterfaces",\n', '        "ec2:DescribeNetworkInterfaces",\n        "ec2:DescribeInstances",\n',
     "resolver", "task_role_may_only_describe"),
    ("resolver", "main.tf", "dhcp_dns_servers = slice(local.nlb_ips, 0, min(4, length(local.nlb_ips)))", "dhcp_dns_servers = local.nlb_ips",
     "resolver", "dhcp_option_set_names_at_most_four_nlb_addresses"),
    ("interconnect", "peering.tf", "peer_owner_id = data.aws_caller_identity.endpoint.account_id", "peer_owner_id = null",
     "new_vpcs", "peering_names_the_endpoint_account"),
    # Endpoints in a network account, joining deployments, transit gateways, cross-region services.
    ("interconnect", "discovery_role.tf", '        "ec2:DescribeNetworkInterfaces",\n', '        "ec2:DescribeNetworkInterfaces",\n        "ec2:DescribeInstances",\n',
     "new_vpcs", "discovery_role_may_do_exactly_the_three_describes_and_trusts_only_the_given_roles"),
    ("interconnect", "discovery_role.tf", '{ ArnLike = { "aws:PrincipalArn" = local.discovery_trusted } }', "{}",
     "new_vpcs", "discovery_role_may_do_exactly_the_three_describes_and_trusts_only_the_given_roles"),
    ("interconnect", "discovery_role.tf", 'var.discovery_role.external_id == null ? {} : { StringEquals', "true ? {} : { StringEquals",
     "new_vpcs", "discovery_role_may_do_exactly_the_three_describes_and_trusts_only_the_given_roles"),
    ("interconnect", "outputs.tf", "    role_arn       = one(aws_iam_role.discovery[*].arn)\n", "    role_arn       = null\n",
     "new_vpcs", "discovery_role_may_do_exactly_the_three_describes_and_trusts_only_the_given_roles"),
    ("interconnect", "discovery_role.tf", "  count    = var.discovery_role == null ? 0 : 1\n  provider = aws.endpoint\n\n  name_prefix",
     "  count    = 1\n  provider = aws.endpoint\n\n  name_prefix", "new_vpcs", "no_discovery_role_unless_asked"),
    ("interconnect", "endpoints.tf", "  for_each = var.create_endpoints ? local.peering_services : {}", "  for_each = var.create_endpoints ? var.services : {}",
     "new_vpcs", "a_cross_region_service_gets_an_app_vpc_endpoint_and_no_resolver_scope"),
    ("interconnect", "endpoints.tf", "  service_region      = var.endpoint_region\n", "",
     "new_vpcs", "a_cross_region_service_gets_an_app_vpc_endpoint_and_no_resolver_scope"),
    ("interconnect", "outputs.tf", "    services       = sort(keys(local.peering_services))", "    services       = sort(keys(var.services))",
     "new_vpcs", "a_cross_region_service_gets_an_app_vpc_endpoint_and_no_resolver_scope"),
    ("interconnect", "endpoints.tf", "    cidr_blocks = local.app_vpc_cidrs\n", '    cidr_blocks = ["0.0.0.0/0"]\n',
     "new_vpcs", "a_cross_region_service_gets_an_app_vpc_endpoint_and_no_resolver_scope"),
    ("interconnect", "phz.tf", 'phz_services = var.dns_mode == "phz" ? local.peering_services : {}', 'phz_services = var.dns_mode == "phz" ? var.services : {}',
     "new_vpcs", "a_cross_region_service_gets_no_private_hosted_zone"),
    ("interconnect", "peering.tf", "  peered = var.connectivity == \"peering\"", "  peered = true",
     "new_vpcs", "transit_gateway_routes_replace_the_peering"),
    ("interconnect", "peering.tf", "  transit_gateway_id        = local.peered ? null : var.endpoint_transit_gateway_id",
     "  transit_gateway_id        = local.peered ? null : var.app_transit_gateway_id",
     "new_vpcs", "transit_gateway_routes_replace_the_peering"),
    ("interconnect", "peering.tf", "      condition     = local.peered || var.endpoint_transit_gateway_id != null", '      condition     = var.name != ""',
     "new_vpcs", "transit_gateway_needs_both_gateways"),
    ("interconnect", "endpoints.tf", "  for_each = var.create_endpoints ? local.peering_services : {}", "  for_each = local.peering_services",
     "existing_vpcs", "a_joining_deployment_creates_no_endpoint_and_only_its_own_rules"),
    ("interconnect", "endpoints.tf", "  endpoint_security_group_id = var.create_endpoints ? aws_security_group.endpoints[0].id : var.endpoint_security_group_id",
     '  endpoint_security_group_id = var.create_endpoints ? aws_security_group.endpoints[0].id : "sg-0"',
     "existing_vpcs", "a_joining_deployment_creates_no_endpoint_and_only_its_own_rules"),
    ("interconnect", "endpoints.tf", "    { for k, e in data.aws_vpc_endpoint.joined : k => { id = e.id, network_interface_ids = e.network_interface_ids, dns_entry = e.dns_entry } },\n", "",
     "existing_vpcs", "a_joining_deployment_creates_no_endpoint_and_only_its_own_rules"),
    ("interconnect", "endpoints.tf", "      condition     = var.create_endpoints || var.endpoint_security_group_id != null", '      condition     = var.name != ""',
     "existing_vpcs", "joining_needs_the_endpoints_group"),
    ("resolver", "main.tf", '      Resource = length(local.discovery_roles) > 0 ? local.discovery_roles : ["*"]', '      Resource = ["*"]',
     "resolver", "task_role_may_assume_only_the_sources_roles"),
    ("resolver", "bedrock-link.toml.tftpl", 'external_id = "${s.external_id}"\n', "",
     "resolver", "task_role_may_assume_only_the_sources_roles"),
    ("resolver", "main.tf", '      Effect   = length(local.discovery_roles) > 0 ? "Allow" : "Deny"', '      Effect   = "Allow"',
     "resolver", "no_assume_permission_without_a_role"),
    # Alarms, EMF and scaling.
    ("resolver", "alarms.tf", 'source_labels = [for s in var.sources : "${s.region}/${s.vpc_id}"]',
     "source_labels = [for s in var.sources : s.vpc_id]", "resolver", "alarms_watch_the_nlb_the_tasks_and_the_emf_metrics"),
    ("resolver", "alarms.tf", "  threshold           = local.min_tasks\n", "  threshold           = 1\n",
     "resolver", "alarms_watch_the_nlb_the_tasks_and_the_emf_metrics"),
    ("resolver", "alarms.tf", "alarm_actions = var.alarms.sns_topic_arn == null ? [] : [var.alarms.sns_topic_arn]", "alarm_actions = []",
     "resolver", "alarm_actions_go_to_the_sns_topic"),
    ("resolver", "alarms.tf", "emf_alarms    = local.alarms && var.emf.enabled", "emf_alarms    = local.alarms",
     "resolver", "no_alarm_without_its_metric_source"),
    ("resolver", "alarms.tf", "count = local.alarms && var.cluster_arn == null ? 1 : 0", "count = local.alarms ? 1 : 0",
     "resolver", "no_alarm_without_its_metric_source"),
    ("resolver", "alarms.tf", "count = local.emf_alarms && var.upstream.max_queries_per_second > 0 ? 1 : 0", "count = local.emf_alarms ? 1 : 0",
     "resolver", "no_budget_no_refusal_alarm"),
    ("resolver", "bedrock-link.toml.tftpl", "emf = true\n", "emf = false\n",
     "resolver", "emf_is_on_in_the_generated_configuration"),
    ("resolver", "main.tf", "namespace = var.emf.namespace, service = var.name }", 'namespace = var.emf.namespace, service = "bedrock-link" }',
     "resolver", "emf_is_on_in_the_generated_configuration"),
    ("resolver", "scaling.tf", "per_task  = local.scales ? var.autoscaling.upstream_share * var.upstream.max_queries_per_second : 0",
     "per_task  = local.scales ? var.autoscaling.upstream_share * 1024 : 0", "resolver", "scaling_tracks_each_tasks_upstream_rate_within_the_bounds"),
    ("resolver", "scaling.tf", "max_tasks = var.desired_count, upstream_share", "max_tasks = 20, upstream_share",
     "resolver", "without_autoscaling_the_count_is_fixed"),
    ("resolver", "main.tf", "condition     = local.is_nlb || var.autoscaling == null", "condition     = var.name != \"\"",
     "resolver", "scaling_in_daemon_mode_is_refused"),
    ("resolver", "scaling.tf", "condition     = var.autoscaling == null || local.emf_ready", "condition     = var.name != \"\"",
     "resolver", "scaling_without_emf_is_refused"),
    ("resolver", "scaling.tf", "condition     = !local.own_capacity || local.scaling.max_tasks <= var.ec2_capacity.max_size", "condition     = var.name != \"\"",
     "resolver", "scaling_past_the_hosts_is_refused"),
    ("resolver", "main.tf", "size > 64 ? 53 : size - 2", "53",
     "resolver", "dhcp_option_set_names_at_most_four_nlb_addresses"),
    ("resolver", "nlb.tf", "count = local.is_nlb && var.create_dhcp_options ? 1 : 0\n\n  domain_name_servers", "count = local.is_nlb ? 1 : 0\n\n  domain_name_servers",
     "resolver", "no_dhcp_option_set_unless_asked"),
    ("resolver", "nlb.tf", "wait_for_steady_state = var.create_dhcp_options", "wait_for_steady_state = false",
     "resolver", "dhcp_option_set_names_at_most_four_nlb_addresses"),
    ("resolver", "main.tf", "condition     = !var.create_dhcp_options || local.own_capacity", "condition     = var.name != \"\"",
     "resolver", "dhcp_mode_on_fargate_is_refused"),
    ("resolver", "capacity.tf", "printf 'nameserver ${local.vpc_resolver}\\n", "printf 'nameserver 127.0.0.1\\n",
     "resolver", "dhcp_mode_runs_on_hosts_that_resolve_through_the_vpc_resolver"),
    ("resolver", "nlb.tf", "    rollback = true", "    rollback = false",
     "resolver", "service_rolls_back_broken_deployments"),
    ("resolver", "main.tf", "condition     = var.log_kms_key_arn == null || try(split(\":\", var.log_kms_key_arn)[3], \"\") == var.region", "condition     = var.name != \"\"",
     "resolver", "log_key_from_another_region_is_refused"),    ("resolver", "main.tf", 'allow         = concat(var.client_cidrs, local.is_nlb ? [] : var.daemon_client_cidrs, ["127.0.0.0/8"])',
     'allow         = concat(var.client_cidrs, ["127.0.0.0/8"])', "resolver", "daemon_mode_has_no_load_balancer_and_no_dhcp"),
    ("resolver", "main.tf", '    user = "65532:65532"\n', "", "resolver", "container_runs_non_root_read_only_with_only_net_bind_service"),
    ("resolver", "main.tf", '"NET_RAW",\n', '"NET_RAW", "NET_BIND_SERVICE",\n',
     "resolver", "container_runs_non_root_read_only_with_only_net_bind_service"),
    ("resolver", "main.tf", "readonlyRootFilesystem = true", "readonlyRootFilesystem = false",
     "resolver", "container_runs_non_root_read_only_with_only_net_bind_service"),
]


def test_every_module_test_run_has_a_breakage_that_it_catches():
    runs = {
        (module, path.name.removesuffix(".tftest.hcl"), line.split('"')[1])
        for module in MODULES
        for path in (DEPLOY / "terraform" / "modules" / module / "tests").glob("*.tftest.hcl")
        for line in path.read_text().splitlines()
        if line.startswith('run "')
    }
    covered = {(m[0], m[4], m[5]) for m in MUTATIONS}
    assert runs - covered == set(), "runs with no entry in MUTATIONS"
    assert covered - runs == set(), "MUTATIONS naming runs that do not exist"


def only_run(tests: str, run: str) -> str:
    """A test file with every run block but `run` left out (mocks, overrides and variables
    stay): one plan per mutation instead of the file's dozen. Run blocks are top-level and
    formatted by `terraform fmt`, so each ends at the first line that is a lone `}`."""
    out, skipping, found = [], False, False
    for line in tests.splitlines(keepends=True):
        if line.startswith('run "'):
            skipping = not line.startswith(f'run "{run}" {{')
            found = found or not skipping
        if not skipping:
            out.append(line)
        elif line.rstrip("\n") == "}":
            skipping = False
    assert found, f'no run "{run}" in the test file'
    return "".join(out)


@pytest.fixture(scope="session")
def initialized_modules(terraform, tmp_path_factory):
    """deploy/ with both modules initialised once; each mutation copies a module from here."""
    root = tmp_path_factory.mktemp("modules") / "deploy"
    shutil.copytree(DEPLOY, root, ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl"))
    for module in MODULES:
        terraform(root / "terraform" / "modules" / module, "init", "-backend=false", "-input=false")
    return root


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: f"{m[0]}:{m[5]}:{m[1]}")
def test_module_tests_catch_the_breakage(terraform, initialized_modules, tmp_path, mutation):
    module, file, text, replacement, test_file, run = mutation
    root = tmp_path / "deploy"
    shutil.copytree(initialized_modules, root, symlinks=True)
    path = root / "terraform" / "modules" / module
    source = (path / file).read_text()
    assert source.count(text) == 1, f"{module}/{file} no longer holds exactly one {text!r}: update MUTATIONS"
    (path / file).write_text(source.replace(text, replacement))
    tests = path / "tests" / f"{test_file}.tftest.hcl"
    tests.write_text(only_run(tests.read_text(), run))
    code, log = run_module_tests(terraform, path, f"-filter=tests/{test_file}.tftest.hcl")
    assert code != 0, f"the module tests passed with {module}/{file} broken:\n{log}"
    assert f'run "{run}"... fail' in log, f'run "{run}" should have caught the change to {module}/{file}:\n{log}'


# --- Examples applied to moto ---------------------------------------------------------------


def apply(terraform, moto, path, aliases, **variables):
    (path / "moto_override.tf").write_text(moto.provider_override(aliases))
    terraform.init(path)
    args = [f"-var={k}={v}" for k, v in variables.items()]
    first = terraform(path, "apply", "-auto-approve", *args, check=False)
    # Under load (4 workers sharing 2 cores), moto has once answered the provider's revoke of a
    # default security group's rule with InvalidPermission.NotFound while emptying the group
    # (never seen with the test alone). A second apply starts from the state and converges; any
    # other failure, or this one twice, fails the test.
    if first.returncode != 0 and "InvalidPermission.NotFound" in first.stdout + first.stderr:
        terraform(path, "apply", "-auto-approve", *args)
    elif first.returncode != 0:
        raise AssertionError(f"terraform apply in {path} exited {first.returncode}:\n{first.stdout[-6000:]}\n{first.stderr[-6000:]}")
    return args


def destroy(terraform, path, args):
    terraform(path, "destroy", "-auto-approve", *args)
    left = terraform(path, "state", "list").stdout.split()
    assert left == [], f"destroy left {left}"


def items(element, path):
    found = element.find(path)
    return [] if found is None else list(found)


def text(element, tag):
    found = element.find(tag)
    return None if found is None else found.text


def endpoint_facts(moto, endpoint_ids):
    """endpoint id -> (regional DNS entry, sorted ENI IPv4 addresses), from moto's EC2 API."""
    params = {f"VpcEndpointId.{i + 1}": e for i, e in enumerate(endpoint_ids)}
    reply = moto.ec2(ENDPOINT_REGION, "DescribeVpcEndpoints", **params)
    facts = {}
    for ep in items(reply, "vpcEndpointSet"):
        eid = text(ep, "vpcEndpointId")
        entries = [(text(d, "dnsName"), text(d, "hostedZoneId")) for d in items(ep, "dnsEntrySet")]
        regional = [e for e in entries if e[0].split(".")[0].startswith(eid + "-") and "-" not in e[0].split(".")[0][len(eid) + 1:]]
        enis = [i.text for i in items(ep, "networkInterfaceIdSet")]
        ips = []
        if enis:
            eni_params = {f"NetworkInterfaceId.{i + 1}": e for i, e in enumerate(enis)}
            for eni in items(moto.ec2(ENDPOINT_REGION, "DescribeNetworkInterfaces", **eni_params), "networkInterfaceSet"):
                ips.append(text(eni, "privateIpAddress"))
        facts[eid] = (regional[0] if len(regional) == 1 else None, sorted(ips, key=address_key))
    assert set(facts) == set(endpoint_ids), (facts, endpoint_ids)
    return facts


def routes(moto, region, account=None, **filters):
    """route table id -> {destination CIDR: target id}."""
    params = {}
    for i, (name, value) in enumerate(filters.items()):
        params[f"Filter.{i + 1}.Name"] = name.replace("_", "-")
        params[f"Filter.{i + 1}.Value.1"] = value
    out = {}
    for rt in items(moto.ec2(region, "DescribeRouteTables", account=account, **params), "routeTableSet"):
        out[text(rt, "routeTableId")] = {
            text(r, "destinationCidrBlock"): text(r, "vpcPeeringConnectionId") or text(r, "gatewayId") or text(r, "natGatewayId")
            for r in items(rt, "routeSet")
        }
    return out


def discover(config, moto, *extra):
    out = binary("discover", "--config", str(config), "--endpoint-url", moto.url, "--output", "json", *extra)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_new_vpcs_applies_serves_and_destroys(terraform, moto, deploy_copy, dnsmasq, tmp_path):
    path = deploy_copy / "terraform" / "examples" / "new-vpcs"
    args = apply(terraform, moto, path, ["app", "endpoint"], image=IMAGE)
    out = terraform.outputs(path)
    services = ["bedrock", "bedrock-agent", "bedrock-agent-runtime", "bedrock-runtime"]
    assert sorted(out["endpoint_ids"]) == services

    # The DHCP option set names the NLB's addresses and is associated with the app VPC.
    dhcp = moto.ec2(APP_REGION, "DescribeDhcpOptions", **{"DhcpOptionsId.1": out["dhcp_options_id"]})
    servers = [
        text(v, "value")
        for c in items(dhcp, "dhcpOptionsSet/item/dhcpConfigurationSet")
        if text(c, "key") == "domain-name-servers"
        for v in items(c, "valueSet")
    ]
    assert servers == out["dns_server_ips"] == ["10.10.1.53", "10.10.2.53"]
    vpc = moto.ec2(APP_REGION, "DescribeVpcs", **{"VpcId.1": out["app_vpc_id"]})
    assert text(vpc, "vpcSet/item/dhcpOptionsId") == out["dhcp_options_id"]

    # The alarms, as CloudWatch holds them: every one the module names, on its metric.
    alarms = items(moto.cloudwatch(APP_REGION, "DescribeAlarms", AlarmNamePrefix="bedrock-link-"),
                   "DescribeAlarmsResult/MetricAlarms")
    held = {text(a, "AlarmName"): a for a in alarms}
    assert set(held) == set(out["alarm_names"].values()), (sorted(held), out["alarm_names"])
    assert {k.split(":")[0] for k in out["alarm_names"]} == {
        "nlb_healthy_hosts", "nlb_unhealthy_hosts", "running_tasks", "servfail_ratio",
        "budget_refusals", "all_addresses_down", "discovery_stale"}
    stale = held[out["alarm_names"][f"discovery_stale:{ENDPOINT_REGION}/{out['endpoint_vpc_id']}"]]
    assert (text(stale, "Namespace"), text(stale, "MetricName")) == ("BedrockLink", "DiscoveryStale")
    dims = {text(d, "Name"): text(d, "Value") for d in items(stale, "Dimensions")}
    assert dims == {"Service": "bedrock-link", "Source": f"{ENDPOINT_REGION}/{out['endpoint_vpc_id']}"}

    # The service's count belongs to a scalable target between the example's bounds.
    targets = moto.autoscaling_targets(APP_REGION, "ecs")["ScalableTargets"]
    assert [(t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in targets] == [
        (out["scalable_target"]["resource_id"], 2, 4)], targets

    # Routes both ways across the peering.
    app_routes = routes(moto, APP_REGION, vpc_id=out["app_vpc_id"])
    peered = [rt for rt, r in app_routes.items() if r.get("10.20.0.0/16") == out["peering_connection_id"]]
    assert len(peered) == 2, app_routes
    endpoint_routes = routes(moto, ENDPOINT_REGION, vpc_id=out["endpoint_vpc_id"])
    assert [rt for rt, r in endpoint_routes.items() if r.get("10.10.0.0/16") == out["peering_connection_id"]], endpoint_routes

    # The generated configuration is accepted, and names the discovery endpoint.
    config = tmp_path / "bedrock-link.toml"
    # Health probes off: moto's ENI addresses are not hosts of this machine.
    assert out["resolver_config"].count("health_check = true\n") == out["resolver_config"].count("[[source]]") > 0
    # EMF every second instead of every minute, so that the lines come within the test.
    assert 'emf = true\nemf_interval = "60s"\n' in out["resolver_config"]
    config.write_text(out["resolver_config"].replace("health_check = true\n", "health_check = false\n")
                      .replace('emf_interval = "60s"', 'emf_interval = "1s"'))
    check = binary("config", "check", str(config))
    assert check.returncode == 0, check.stderr
    assert "169.254.169.253:53" in check.stdout
    assert f'endpoint_url = "{out["discovery_endpoint_url"]}"' in out["resolver_config"]

    # Discovery finds exactly the endpoints Terraform created, with their ENI addresses.
    facts = endpoint_facts(moto, list(out["endpoint_ids"].values()))
    rows = discover(config, moto)
    assert {r["endpoint_id"] for r in rows} == set(out["endpoint_ids"].values())
    for service, eid in out["endpoint_ids"].items():
        row = next(r for r in rows if r["endpoint_id"] == eid)
        assert row["name"] == f"{service}.{ENDPOINT_REGION}.amazonaws.com"
        assert row["vpc_id"] == out["endpoint_vpc_id"] and row["state"] == "available"
        assert row["ipv4"] == facts[eid][1] and len(row["ipv4"]) == 2, (row, facts[eid])

    # `dns serve` on the generated configuration answers those names with those addresses;
    # flags move only what must differ on loopback: listeners, the upstream, the EC2 endpoint.
    port, admin = free_port(), free_port()
    server = Process([BIN, "dns", "serve", "--config", str(config), "--listen", f"127.0.0.1:{port}",
                      "--upstream", f"127.0.0.1:{dnsmasq}", "--admin", f"127.0.0.1:{admin}",
                      "--endpoint-url", moto.url], tmp_path / "serve.log", stdout=tmp_path / "emf.out")
    try:
        deadline = time.time() + 30
        while True:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{admin}/readyz", timeout=2).status == 200:
                    break
            except OSError:
                pass
            assert time.time() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        for service, eid in out["endpoint_ids"].items():
            assert dig(port, f"{service}.{ENDPOINT_REGION}.amazonaws.com") == facts[eid][1]
        assert dig(port, "www.forwarded.test") == ["192.0.2.7"]
    finally:
        assert server.stop() == 0, (tmp_path / "serve.log").read_text()

    # Every alarm on the resolver's own metrics reads a metric that the binary, run on the
    # generated configuration, writes: namespace, name and dimensions alike.
    emf = [json.loads(line) for line in (tmp_path / "emf.out").read_text().splitlines()]
    written = {
        (d["Namespace"], m["Name"], tuple(sorted((k, line[k]) for k in dims)))
        for line in emf for d in line["_aws"]["CloudWatchMetrics"]
        for dims in d["Dimensions"] for m in d["Metrics"]
    }
    on_emf = [a for a in alarms if text(a, "Namespace") == "BedrockLink"]
    assert len(on_emf) == 4, [text(a, "AlarmName") for a in on_emf]
    for a in on_emf:
        wanted = (text(a, "Namespace"), text(a, "MetricName"),
                  tuple(sorted((text(d, "Name"), text(d, "Value")) for d in items(a, "Dimensions"))))
        assert wanted in written, (wanted, sorted(written))

    destroy(terraform, path, args)
    left = items(moto.ec2(ENDPOINT_REGION, "DescribeVpcEndpoints"), "vpcEndpointSet")
    assert {text(e, "state").lower() for e in left} <= {"deleted"}, [text(e, "vpcEndpointId") for e in left]
    assert items(moto.ec2(APP_REGION, "DescribeNatGateways"), "natGatewaySet") == [] or all(
        text(n, "state") == "deleted" for n in items(moto.ec2(APP_REGION, "DescribeNatGateways"), "natGatewaySet"))


def existing_app_vpc(terraform, moto, tmp_path):
    """The fixture VPC, applied to moto; returns (its directory, its outputs). It is not
    destroyed: it stands for what the platform team already had, and moto is reset per test."""
    path = tmp_path / "existing-app-vpc"
    shutil.copytree(HERE / "fixtures" / "existing-app-vpc", path)
    terraform.init(path)
    terraform(path, "apply", "-auto-approve", f"-var=region={APP_REGION}", f"-var=moto_url={moto.url}")
    return path, terraform.outputs(path)


def test_existing_app_vpc_applies_and_destroys(terraform, moto, deploy_copy, tmp_path):
    _, vpc = existing_app_vpc(terraform, moto, tmp_path)
    path = deploy_copy / "terraform" / "examples" / "existing-app-vpc"
    args = apply(terraform, moto, path, ["app", "endpoint"], app_region=APP_REGION, endpoint_region=ENDPOINT_REGION,
                 app_vpc_id=vpc["vpc_id"], cluster_arn=vpc["cluster_arn"], image=IMAGE)
    out = terraform.outputs(path)
    assert sorted(out["endpoint_ids"]) == ["bedrock-agent-runtime", "bedrock-runtime"]

    # The private route tables (main and private) route to the endpoint VPC; the public one,
    # whose default route leads to an internet gateway, does not.
    app_routes = routes(moto, APP_REGION, vpc_id=vpc["vpc_id"])
    to_endpoints = {rt for rt, r in app_routes.items() if "10.20.0.0/16" in r}
    assert to_endpoints == {vpc["main_route_table_id"], vpc["private_route_table_id"]}, app_routes
    assert sorted(out["app_route_table_ids"]) == sorted(to_endpoints)

    # The endpoint side routes back to both CIDRs of the app VPC.
    endpoint_routes = routes(moto, ENDPOINT_REGION, vpc_id=out["endpoint_vpc_id"])
    assert any({"10.10.0.0/16", "100.64.0.0/20"} <= set(r) for r in endpoint_routes.values()), endpoint_routes

    # The daemon's generated configuration is accepted; discovery finds the two endpoints.
    config = tmp_path / "daemon.toml"
    config.write_text(out["resolver_config"])
    check = binary("config", "check", str(config))
    assert check.returncode == 0, check.stderr
    assert "172.17.0.1:53" in check.stdout and "169.254.169.253:53" in check.stdout
    rows = discover(config, moto)
    assert {r["endpoint_id"] for r in rows} == set(out["endpoint_ids"].values())

    destroy(terraform, path, args)


def test_phz_fallback_applies_and_destroys(terraform, moto, deploy_copy, tmp_path):
    _, vpc = existing_app_vpc(terraform, moto, tmp_path)
    path = deploy_copy / "terraform" / "examples" / "phz-fallback"
    args = apply(terraform, moto, path, ["app", "endpoint"], app_region=APP_REGION, endpoint_region=ENDPOINT_REGION,
                 app_vpc_id=vpc["vpc_id"])
    out = terraform.outputs(path)
    services = ["bedrock", "bedrock-agent", "bedrock-agent-runtime", "bedrock-runtime"]
    assert sorted(out["hosted_zone_ids"]) == services
    facts = endpoint_facts(moto, list(out["endpoint_ids"].values()))

    # One private zone per hostname, associated with the app VPC, whose A record aliases the
    # endpoint's regional DNS name, as moto's EC2 API reports it.
    for service in services:
        zone_id = out["hosted_zone_ids"][service]
        zone = moto.route53(f"hostedzone/{zone_id}")
        assert text(zone, "HostedZone/Name").rstrip(".") == f"{service}.{ENDPOINT_REGION}.amazonaws.com"
        assert text(zone, "HostedZone/Config/PrivateZone") == "true"
        assert [text(v, "VPCId") for v in items(zone, "VPCs")] == [vpc["vpc_id"]]
        records = moto.route53(f"hostedzone/{zone_id}/rrset")
        aliases = [r for r in items(records, "ResourceRecordSets") if text(r, "Type") == "A"]
        assert len(aliases) == 1
        regional_name, regional_zone = facts[out["endpoint_ids"][service]][0]
        assert text(aliases[0], "AliasTarget/DNSName").rstrip(".") == regional_name
        assert text(aliases[0], "AliasTarget/HostedZoneId") == regional_zone

    # `bedrock-link phz plan` for the same endpoints names the same alias targets.
    config = tmp_path / "phz.toml"
    config.write_text(f'[[source]]\nregion = "{ENDPOINT_REGION}"\nvpc_id = "{out["endpoint_vpc_id"]}"\n')
    plan = binary("phz", "plan", "--config", str(config), "--endpoint-url", moto.url, "--output", "json")
    assert plan.returncode == 0, plan.stderr
    planned = {r["origin"]: r["alias_target"] for r in json.loads(plan.stdout)}
    assert planned == {eid: facts[eid][0][0] for eid in out["endpoint_ids"].values()}

    destroy(terraform, path, args)


NETWORK_ACCOUNT = "222222222222"


def test_hub_and_spoke_applies_and_destroys(terraform, moto, deploy_copy, tmp_path):
    """The hub in a network account (Terraform assumes a role there, moto switches accounts),
    two spokes joining it, and discovery through the assumed discovery role."""
    path = deploy_copy / "terraform" / "examples" / "hub-and-spoke"
    args = apply(terraform, moto, path, ["app", "network"], image=IMAGE, deletion_protection="false",
                 network_role_arn=f"arn:aws:iam::{NETWORK_ACCOUNT}:role/network-admin")
    out = terraform.outputs(path)
    assert out["endpoint_account_id"] == NETWORK_ACCOUNT
    assert sorted(out["endpoint_ids"]) == ["bedrock-agent-runtime", "bedrock-runtime"]
    assert out["joined_endpoint_ids"] == out["endpoint_ids"], "spoke B joins the hub's endpoints"

    # The endpoints exist once, in the network account; none in the spokes' account.
    created = items(moto.ec2(ENDPOINT_REGION, "DescribeVpcEndpoints", account=NETWORK_ACCOUNT,
                             **{"Filter.1.Name": "vpc-id", "Filter.1.Value.1": out["endpoint_vpc_id"]}), "vpcEndpointSet")
    interface = {text(e, "vpcEndpointId") for e in created if text(e, "serviceName").endswith("runtime")}
    assert interface == set(out["endpoint_ids"].values())
    assert items(moto.ec2(ENDPOINT_REGION, "DescribeVpcEndpoints"), "vpcEndpointSet") == []

    # Each spoke's CIDR is a rule of its own on the one endpoints group.
    rules = items(moto.ec2(ENDPOINT_REGION, "DescribeSecurityGroupRules", account=NETWORK_ACCOUNT,
                           **{"Filter.1.Name": "group-id", "Filter.1.Value.1": out["endpoint_security_group_id"]}),
                  "securityGroupRuleSet")
    ingress = sorted((text(r, "cidrIpv4"), text(r, "fromPort"), text(r, "toPort")) for r in rules if text(r, "isEgress") == "false")
    assert ingress == [("10.10.0.0/16", "443", "443"), ("10.30.0.0/16", "443", "443")], ingress

    # Two peerings, both accepted in the network account, and routes back to both spokes.
    assert out["peering_connection_ids"]["a"] != out["peering_connection_ids"]["b"]
    back = routes(moto, ENDPOINT_REGION, account=NETWORK_ACCOUNT, vpc_id=out["endpoint_vpc_id"])
    targets = {cidr: target for r in back.values() for cidr, target in r.items()}
    assert targets.get("10.10.0.0/16") == out["peering_connection_ids"]["a"], back
    assert targets.get("10.30.0.0/16") == out["peering_connection_ids"]["b"], back

    # Each resolver's configuration discovers exactly the hub's endpoints as the discovery role
    # (STS is moto); without the role, the same pass finds nothing: they are in another account.
    for spoke, text_ in out["resolver_configs"].items():
        assert f'role_arn = "{out["discovery_role_arn"]}"' in text_, text_
        config = tmp_path / f"{spoke}.toml"
        config.write_text(text_)
        found = discover_as_role(config, moto)
        assert {r["endpoint_id"] for r in found} == set(out["endpoint_ids"].values()), (spoke, found)
    without = tmp_path / "no-role.toml"
    without.write_text("\n".join(l for l in out["resolver_configs"]["b"].splitlines()
                                 if not l.startswith(("role_arn", "external_id"))) + "\n")
    assert discover_as_role(without, moto) == []

    destroy(terraform, path, args)
    left = items(moto.ec2(ENDPOINT_REGION, "DescribeVpcEndpoints", account=NETWORK_ACCOUNT), "vpcEndpointSet")
    assert {text(e, "state").lower() for e in left} <= {"deleted"}, [text(e, "vpcEndpointId") for e in left]


def discover_as_role(config, moto):
    """`discover` with STS on moto too (AWS_ENDPOINT_URL_STS), as a task would reach it."""
    out = subprocess.run([BIN, "discover", "--config", str(config), "--endpoint-url", moto.url, "--output", "json"],
                         capture_output=True, text=True, timeout=60,
                         env={"PATH": os.environ.get("PATH", ""), **SAFE_ENV, "AWS_ENDPOINT_URL_STS": moto.url})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)
