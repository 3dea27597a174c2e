# The resolver module, planned against a mock provider: nothing leaves this machine.

mock_provider "aws" {
  mock_data "aws_vpc" {
    defaults = { cidr_block = "10.10.0.0/16" }
  }
  mock_data "aws_subnet" {
    defaults = { cidr_block = "10.10.9.0/24" }
  }
  mock_data "aws_ssm_parameter" {
    defaults = { value = "ami-0123456789abcdef0" }
  }
}

# Five subnets; the third is a /27, too small for host number 53.
override_data {
  target = data.aws_subnet.this[0]
  values = { cidr_block = "10.10.1.0/24" }
}
override_data {
  target = data.aws_subnet.this[1]
  values = { cidr_block = "10.10.2.0/24" }
}
override_data {
  target = data.aws_subnet.this[2]
  values = { cidr_block = "10.10.3.0/27" }
}
override_data {
  target = data.aws_subnet.this[3]
  values = { cidr_block = "10.10.4.0/24" }
}
override_data {
  target = data.aws_subnet.this[4]
  values = { cidr_block = "10.10.5.0/24" }
}

override_resource {
  target          = aws_ecs_capacity_provider.this
  override_during = plan
  values          = { name = "t-hosts" }
}

variables {
  name         = "t"
  region       = "ap-southeast-6"
  mode         = "nlb-service"
  vpc_id       = "vpc-0a0a0a0a"
  subnet_ids   = ["subnet-1", "subnet-2"]
  client_cidrs = ["10.10.0.0/16"]
  image        = "example/bedrock-link:test"
  sources = [{
    region       = "ap-southeast-2"
    vpc_id       = "vpc-0e0e0e0e"
    endpoint_url = "https://vpce-0ec2ec2ec2ec2ec20-ffff0000.ec2.ap-southeast-2.vpce.amazonaws.com"
  }]
}

run "security_group_admits_dns_from_the_client_cidrs_only" {
  command = plan

  assert {
    condition = (
      toset([for r in aws_security_group.tasks[0].ingress : r.protocol if r.from_port == 53 && r.to_port == 53]) == toset(["udp", "tcp"]) &&
      alltrue([for r in aws_security_group.tasks[0].ingress : toset(r.cidr_blocks) == toset(["10.10.0.0/16"]) if r.from_port <= 53 && r.to_port >= 53])
    )
    error_message = "The tasks take DNS on 53/udp and 53/tcp from client_cidrs and from nowhere else: ${jsonencode(aws_security_group.tasks[0].ingress)}"
  }

  assert {
    condition = alltrue([for r in aws_security_group.tasks[0].ingress :
      (r.from_port == 53 && r.to_port == 53) || (r.from_port == 9153 && r.to_port == 9153 && r.protocol == "tcp" && toset(r.cidr_blocks) == toset(["10.10.0.0/16"]))
    ])
    error_message = "Besides DNS, only the NLB health check (the admin port, from the VPC) may come in."
  }

  assert {
    condition     = startswith(aws_security_group.tasks[0].name_prefix, "t-")
    error_message = "The tasks' security group is named by prefix."
  }
}

run "task_role_may_only_describe" {
  command = plan

  assert {
    condition = (
      length(jsondecode(aws_iam_role_policy.discovery.policy).Statement) == 1 &&
      one(jsondecode(aws_iam_role_policy.discovery.policy).Statement).Effect == "Allow" &&
      sort(one(jsondecode(aws_iam_role_policy.discovery.policy).Statement).Action) == sort(["ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcEndpointServices", "ec2:DescribeVpcEndpoints"])
    )
    error_message = "The task role's policy must allow exactly the three Describe actions: ${aws_iam_role_policy.discovery.policy}"
  }

  # The same three as deploy/iam/discovery-policy.json, which tests/it/discovery.rs checks
  # against the calls a real discovery pass makes.
  assert {
    condition     = sort(one(jsondecode(aws_iam_role_policy.discovery.policy).Statement).Action) == sort(jsondecode(file("../../../iam/discovery-policy.json")).Statement[0].Action)
    error_message = "The module's policy and deploy/iam/discovery-policy.json disagree."
  }

  assert {
    condition     = startswith(aws_iam_role.task.name_prefix, "t-") && startswith(aws_iam_role.execution.name_prefix, "t-")
    error_message = "IAM roles are global: they are named by prefix so two deployments never collide."
  }
}

run "no_dhcp_option_set_unless_asked" {
  command = plan

  assert {
    condition     = length(aws_vpc_dhcp_options.this) == 0 && length(aws_vpc_dhcp_options_association.this) == 0
    error_message = "No DHCP option set without create_dhcp_options."
  }

  assert {
    condition     = tolist(output.dns_server_ips) == tolist(["10.10.1.53", "10.10.2.53"])
    error_message = "The NLB takes host 53 of each subnet: ${jsonencode(output.dns_server_ips)}"
  }
}

run "dhcp_option_set_names_at_most_four_nlb_addresses" {
  command = plan

  variables {
    subnet_ids          = ["subnet-1", "subnet-2", "subnet-3", "subnet-4", "subnet-5"]
    launch_type         = "EC2"
    create_dhcp_options = true
  }

  assert {
    condition     = tolist(output.dns_server_ips) == tolist(["10.10.1.53", "10.10.2.53", "10.10.3.30", "10.10.4.53", "10.10.5.53"])
    error_message = "One NLB address per subnet; a /27 has no host 53, so it takes its last usable address: ${jsonencode(output.dns_server_ips)}"
  }

  assert {
    condition     = tolist(aws_vpc_dhcp_options.this[0].domain_name_servers) == tolist(["10.10.1.53", "10.10.2.53", "10.10.3.30", "10.10.4.53"])
    error_message = "A DHCP option set holds at most 4 DNS servers: ${jsonencode(aws_vpc_dhcp_options.this[0].domain_name_servers)}"
  }

  assert {
    condition     = aws_vpc_dhcp_options.this[0].domain_name == "ap-southeast-6.compute.internal" && aws_vpc_dhcp_options_association.this[0].vpc_id == "vpc-0a0a0a0a"
    error_message = "The option set keeps the region's domain name and is associated with the app VPC."
  }

  # The option set is associated only after the service is steady.
  assert {
    condition     = aws_ecs_service.nlb[0].wait_for_steady_state
    error_message = "With a DHCP option set, apply must wait for the service to be steady before associating it."
  }
}

run "dhcp_mode_runs_on_hosts_that_resolve_through_the_vpc_resolver" {
  command = plan

  variables {
    launch_type         = "EC2"
    create_dhcp_options = true
  }

  assert {
    condition = (
      strcontains(base64decode(aws_launch_template.instances[0].user_data), "nameserver 169.254.169.253") &&
      strcontains(base64decode(aws_launch_template.instances[0].user_data), "ECS_CLUSTER=t")
    )
    error_message = "The resolver's hosts must pin their resolver to the VPC resolver and join the cluster."
  }

  assert {
    condition = (
      one(aws_ecs_service.nlb[0].capacity_provider_strategy).capacity_provider == "t-hosts" &&
      aws_autoscaling_group.instances[0].vpc_zone_identifier == toset(["subnet-1", "subnet-2"])
    )
    error_message = "The service runs on the module's own capacity provider, across the subnets."
  }

  assert {
    condition = (
      one(aws_launch_template.instances[0].metadata_options).http_tokens == "required" &&
      one(one(aws_launch_template.instances[0].block_device_mappings).ebs).encrypted == "true"
    )
    error_message = "The hosts require IMDSv2 and encrypt their volumes."
  }

  assert {
    condition     = strcontains(output.config, "servers = [\"169.254.169.253\"]")
    error_message = "The resolver's upstream is the VPC resolver, never the option set's servers."
  }
}

run "dhcp_mode_on_fargate_is_refused" {
  command = plan

  variables {
    launch_type         = "FARGATE"
    create_dhcp_options = true
  }

  expect_failures = [aws_ecs_task_definition.this]
}

run "dhcp_mode_on_a_cluster_of_ones_own_is_refused" {
  command = plan

  variables {
    launch_type         = "EC2"
    cluster_arn         = "arn:aws:ecs:ap-southeast-6:123456789012:cluster/theirs"
    create_dhcp_options = true
  }

  expect_failures = [aws_ecs_task_definition.this]
}

run "host_number_outside_a_subnet_is_refused" {
  command = plan

  variables {
    subnet_ids         = ["subnet-1", "subnet-2", "subnet-3"]
    nlb_ip_host_number = 100
  }

  expect_failures = [aws_lb.this]
}

run "service_rolls_back_broken_deployments" {
  command = plan

  assert {
    condition = (
      one(aws_ecs_service.nlb[0].deployment_circuit_breaker).enable &&
      one(aws_ecs_service.nlb[0].deployment_circuit_breaker).rollback &&
      aws_ecs_service.nlb[0].health_check_grace_period_seconds == 60
    )
    error_message = "The NLB service needs a deployment circuit breaker with rollback and a health-check grace period."
  }

  assert {
    condition     = aws_ecs_service.nlb[0].launch_type == "FARGATE" && length(aws_autoscaling_group.instances) == 0
    error_message = "Without DHCP, Fargate works and no hosts are created."
  }
}

run "task_role_may_assume_only_the_sources_roles" {
  command = plan

  variables {
    sources = [
      {
        region      = "ap-southeast-2"
        vpc_id      = "vpc-0e0e0e0e"
        role_arn    = "arn:aws:iam::222222222222:role/t-discovery-1"
        external_id = "bedrock-link-t"
      },
      { region = "us-east-1", vpc_id = "vpc-0f0f0f0f", role_arn = "arn:aws:iam::222222222222:role/t-discovery-1" },
      { region = "us-west-2", vpc_id = "vpc-0b0b0b0b" },
    ]
  }

  assert {
    condition = (
      length(jsondecode(aws_iam_role_policy.assume_discovery.policy).Statement) == 1 &&
      one(jsondecode(aws_iam_role_policy.assume_discovery.policy).Statement).Effect == "Allow" &&
      one(jsondecode(aws_iam_role_policy.assume_discovery.policy).Statement).Action == "sts:AssumeRole" &&
      one(jsondecode(aws_iam_role_policy.assume_discovery.policy).Statement).Resource == ["arn:aws:iam::222222222222:role/t-discovery-1"]
    )
    error_message = "The task role may assume the sources' role and nothing else: ${aws_iam_role_policy.assume_discovery.policy}"
  }

  assert {
    condition = (
      strcontains(output.config, "role_arn = \"arn:aws:iam::222222222222:role/t-discovery-1\"\nexternal_id = \"bedrock-link-t\"") &&
      length(regexall("role_arn = ", output.config)) == 2
    )
    error_message = "The generated configuration gives each source its role: ${output.config}"
  }
}

run "no_assume_permission_without_a_role" {
  command = plan

  assert {
    condition = (
      one(jsondecode(aws_iam_role_policy.assume_discovery.policy).Statement).Effect == "Deny" &&
      one(jsondecode(aws_iam_role_policy.assume_discovery.policy).Statement).Action == "sts:AssumeRole" &&
      one(jsondecode(aws_iam_role_policy.assume_discovery.policy).Statement).Resource == ["*"] &&
      !strcontains(output.config, "role_arn")
    )
    error_message = "Sources without role_arn leave the task role denied every sts:AssumeRole: ${aws_iam_role_policy.assume_discovery.policy}"
  }
}

run "generated_config_serves_the_sources" {
  command = plan

  assert {
    condition = (
      strcontains(output.config, "vpc_id = \"vpc-0e0e0e0e\"") &&
      strcontains(output.config, "endpoint_url = \"https://vpce-0ec2ec2ec2ec2ec20-ffff0000.ec2.ap-southeast-2.vpce.amazonaws.com\"") &&
      strcontains(output.config, "allow = [\"10.10.0.0/16\", \"127.0.0.0/8\"]")
    )
    error_message = "The generated configuration must carry the sources and the client CIDRs: ${output.config}"
  }
}

run "health_probes_may_reach_the_endpoint_vpc" {
  command = plan

  variables {
    sources = [
      { region = "ap-southeast-2", vpc_id = "vpc-0e0e0e0e", endpoint_cidrs = ["10.20.0.0/16", "100.64.0.0/20"] },
      { region = "us-west-2", vpc_id = "vpc-0f0f0f0f", endpoint_cidrs = ["10.30.0.0/16"], health_check = false },
    ]
  }

  assert {
    condition = (
      length([for r in aws_security_group.tasks[0].egress : r if r.protocol == "tcp" && r.from_port == 443 && r.to_port == 443 && toset(r.cidr_blocks) == toset(["10.20.0.0/16", "100.64.0.0/20"])]) == 1 &&
      length([for r in aws_security_group.tasks[0].egress : r if contains(r.cidr_blocks, "10.30.0.0/16")]) == 0
    )
    error_message = "The tasks may probe the endpoint VPC of a source with health checks on 443 (and only of such a source): ${jsonencode(aws_security_group.tasks[0].egress)}"
  }

  assert {
    condition = (
      strcontains(output.config, "vpc_id = \"vpc-0e0e0e0e\"\nservices = [\"bedrock*\"]\nrefresh = \"60s\"\nmax_stale = \"24h\"\nhealth_check = true\nhealth_check_port = 443\n") &&
      strcontains(output.config, "vpc_id = \"vpc-0f0f0f0f\"\nservices = [\"bedrock*\"]\nrefresh = \"60s\"\nmax_stale = \"24h\"\nhealth_check = false\n")
    )
    error_message = "The generated configuration carries each source's health check: ${output.config}"
  }
}

run "daemon_mode_has_no_load_balancer_and_no_dhcp" {
  command = plan

  variables {
    mode        = "ecs-daemon"
    cluster_arn = "arn:aws:ecs:ap-southeast-6:123456789012:cluster/theirs"
  }

  assert {
    condition = (
      length(aws_lb.this) == 0 && length(aws_security_group.tasks) == 0 && length(aws_vpc_dhcp_options.this) == 0 &&
      aws_ecs_task_definition.this.network_mode == "host" && aws_ecs_service.daemon[0].scheduling_strategy == "DAEMON"
    )
    error_message = "ecs-daemon: one host-network task per instance, no NLB, no DHCP option set."
  }

  assert {
    condition     = strcontains(output.config, "allow = [\"10.10.0.0/16\", \"172.17.0.0/16\", \"127.0.0.0/8\"]")
    error_message = "ecs-daemon: bridge-mode containers (docker0's 172.17.0.0/16) may query: ${output.config}"
  }
}

run "dhcp_in_daemon_mode_is_refused" {
  command = plan

  variables {
    mode                = "ecs-daemon"
    cluster_arn         = "arn:aws:ecs:ap-southeast-6:123456789012:cluster/theirs"
    create_dhcp_options = true
  }

  expect_failures = [aws_ecs_task_definition.this]
}

run "log_key_from_another_region_is_refused" {
  command = plan

  variables {
    log_kms_key_arn = "arn:aws:kms:ap-southeast-2:123456789012:key/other"
  }

  expect_failures = [aws_cloudwatch_log_group.this]
}

run "container_runs_non_root_read_only_with_only_net_bind_service" {
  command = plan

  assert {
    condition = (
      jsondecode(aws_ecs_task_definition.this.container_definitions)[0].user == "65532:65532" &&
      jsondecode(aws_ecs_task_definition.this.container_definitions)[0].readonlyRootFilesystem &&
      jsondecode(aws_ecs_task_definition.this.container_definitions)[0].linuxParameters.initProcessEnabled &&
      toset(jsondecode(aws_ecs_task_definition.this.container_definitions)[0].linuxParameters.capabilities.drop) == toset([
        "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_RAW",
        "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
      ])
    )
    error_message = "The resolver runs as 65532 on a read-only root with an init, every Docker default capability dropped but NET_BIND_SERVICE (none added: Fargate allows adding only SYS_PTRACE)."
  }
}

# --- Alarms, EMF and scaling ----------------------------------------------------------------

run "alarms_watch_the_nlb_the_tasks_and_the_emf_metrics" {
  command = plan

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.nlb_healthy_hosts[0].namespace == "AWS/NetworkELB" &&
      aws_cloudwatch_metric_alarm.nlb_healthy_hosts[0].metric_name == "HealthyHostCount" &&
      aws_cloudwatch_metric_alarm.nlb_healthy_hosts[0].comparison_operator == "LessThanThreshold" &&
      aws_cloudwatch_metric_alarm.nlb_healthy_hosts[0].threshold == 2 &&
      aws_cloudwatch_metric_alarm.nlb_healthy_hosts[0].treat_missing_data == "breaching"
    )
    error_message = "Healthy NLB targets below the 2 tasks the service keeps must alarm, and no figure at all counts as none healthy."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.nlb_unhealthy_hosts[0].metric_name == "UnHealthyHostCount" &&
      aws_cloudwatch_metric_alarm.nlb_unhealthy_hosts[0].comparison_operator == "GreaterThanThreshold" &&
      aws_cloudwatch_metric_alarm.nlb_unhealthy_hosts[0].threshold == 0
    )
    error_message = "Any unhealthy NLB target must alarm."
  }

  assert {
    condition = (
      one([for q in aws_cloudwatch_metric_alarm.running_tasks[0].metric_query : q.expression if q.return_data == true]) == "desired - running" &&
      toset([for q in aws_cloudwatch_metric_alarm.running_tasks[0].metric_query : one(q.metric).metric_name if length(q.metric) > 0]) == toset(["DesiredTaskCount", "RunningTaskCount"]) &&
      alltrue([for q in aws_cloudwatch_metric_alarm.running_tasks[0].metric_query : jsonencode(one(q.metric).dimensions) == jsonencode({ ClusterName = "t", ServiceName = "t" }) if length(q.metric) > 0])
    )
    error_message = "Running tasks below desired (Container Insights of the created cluster t, service t) must alarm."
  }

  assert {
    condition = (
      length(aws_cloudwatch_metric_alarm.discovery_stale) == 1 &&
      aws_cloudwatch_metric_alarm.discovery_stale[0].namespace == "BedrockLink" &&
      aws_cloudwatch_metric_alarm.discovery_stale[0].metric_name == "DiscoveryStale" &&
      jsonencode(aws_cloudwatch_metric_alarm.discovery_stale[0].dimensions) == jsonencode({ Service = "t", Source = "ap-southeast-2/vpc-0e0e0e0e" }) &&
      aws_cloudwatch_metric_alarm.discovery_stale[0].threshold == 1
    )
    error_message = "Each source has a stale alarm on DiscoveryStale with the binary's own source label (region/vpc-id) as its Source dimension."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.servfail_ratio[0].metric_name == "ServfailRatio" &&
      aws_cloudwatch_metric_alarm.servfail_ratio[0].threshold == 5 &&
      jsonencode(aws_cloudwatch_metric_alarm.servfail_ratio[0].dimensions) == jsonencode({ Service = "t" }) &&
      aws_cloudwatch_metric_alarm.budget_refusals[0].metric_name == "UpstreamBudgetRefusals" &&
      aws_cloudwatch_metric_alarm.budget_refusals[0].statistic == "Sum" &&
      aws_cloudwatch_metric_alarm.budget_refusals[0].threshold == 0 &&
      aws_cloudwatch_metric_alarm.all_addresses_down[0].metric_name == "AllDownNames" &&
      aws_cloudwatch_metric_alarm.all_addresses_down[0].threshold == 0
    )
    error_message = "The EMF alarms: SERVFAIL above 5%, any budget refusal, any name with every address down."
  }

  assert {
    condition     = alltrue([for a in concat(aws_cloudwatch_metric_alarm.nlb_healthy_hosts, aws_cloudwatch_metric_alarm.servfail_ratio) : length(a.alarm_actions) == 0 && length(a.alarm_description) > 80])
    error_message = "Without an SNS topic the alarms notify nobody; every alarm says what to do."
  }
}

run "alarm_actions_go_to_the_sns_topic" {
  command = plan

  variables {
    alarms = { sns_topic_arn = "arn:aws:sns:ap-southeast-6:123456789012:oncall" }
  }

  assert {
    condition = alltrue([for a in concat(
      aws_cloudwatch_metric_alarm.nlb_healthy_hosts, aws_cloudwatch_metric_alarm.nlb_unhealthy_hosts,
      aws_cloudwatch_metric_alarm.running_tasks, aws_cloudwatch_metric_alarm.discovery_stale,
      aws_cloudwatch_metric_alarm.servfail_ratio, aws_cloudwatch_metric_alarm.budget_refusals,
      aws_cloudwatch_metric_alarm.all_addresses_down,
    ) : a.alarm_actions == toset(["arn:aws:sns:ap-southeast-6:123456789012:oncall"]) && a.ok_actions == toset(["arn:aws:sns:ap-southeast-6:123456789012:oncall"])])
    error_message = "Every alarm notifies the topic when it fires and when it clears."
  }
}

run "no_alarm_without_its_metric_source" {
  command = plan

  variables {
    emf         = { enabled = false }
    cluster_arn = "arn:aws:ecs:ap-southeast-6:123456789012:cluster/theirs"
  }

  assert {
    condition = (
      length(aws_cloudwatch_metric_alarm.discovery_stale) + length(aws_cloudwatch_metric_alarm.servfail_ratio) +
      length(aws_cloudwatch_metric_alarm.budget_refusals) + length(aws_cloudwatch_metric_alarm.all_addresses_down) == 0
    )
    error_message = "Without EMF there are no resolver metrics, so no alarm on them."
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.running_tasks) == 0 && length(aws_cloudwatch_metric_alarm.nlb_healthy_hosts) == 1
    error_message = "A given cluster may lack Container Insights: no running-task alarm there; the NLB's own alarms stay."
  }

  assert {
    condition     = !strcontains(output.config, "[metrics]")
    error_message = "Without EMF the generated configuration has no [metrics] section."
  }
}

run "no_budget_no_refusal_alarm" {
  command = plan

  variables {
    upstream = { max_queries_per_second = 0 }
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.budget_refusals) == 0 && length(aws_cloudwatch_metric_alarm.servfail_ratio) == 1
    error_message = "Without a budget nothing is refused: no refusal alarm (the others stay)."
  }

  assert {
    condition     = strcontains(output.config, "max_queries_per_second = 0\n")
    error_message = "The budget in the generated configuration is upstream.max_queries_per_second."
  }
}

run "emf_is_on_in_the_generated_configuration" {
  command = plan

  assert {
    condition     = strcontains(output.config, "[metrics]\n# CloudWatch Embedded Metric Format on stdout, shipped by the awslogs driver.\nemf = true\nemf_interval = \"60s\"\nemf_namespace = \"BedrockLink\"\nemf_service = \"t\"\n")
    error_message = "The module turns EMF on, with the deployment's name as the Service dimension: ${output.config}"
  }

  assert {
    condition     = strcontains(output.config, "max_queries_per_second = 900\nserve_stale = \"1d\"\nprefetch = true\n")
    error_message = "The upstream settings reach the generated configuration: ${output.config}"
  }
}

run "scaling_tracks_each_tasks_upstream_rate_within_the_bounds" {
  command = plan

  variables {
    autoscaling = { min_tasks = 2, max_tasks = 6 }
  }

  assert {
    condition = (
      aws_appautoscaling_target.tasks[0].min_capacity == 2 && aws_appautoscaling_target.tasks[0].max_capacity == 6 &&
      aws_appautoscaling_target.tasks[0].resource_id == "service/t/t" &&
      aws_appautoscaling_target.tasks[0].scalable_dimension == "ecs:service:DesiredCount"
    )
    error_message = "The service's task count scales between 2 and 6."
  }

  assert {
    condition = (
      aws_appautoscaling_policy.upstream_rate[0].policy_type == "TargetTrackingScaling" &&
      one(aws_appautoscaling_policy.upstream_rate[0].target_tracking_scaling_policy_configuration).target_value == 450 &&
      one(one(aws_appautoscaling_policy.upstream_rate[0].target_tracking_scaling_policy_configuration).customized_metric_specification).metric_name == "UpstreamQueriesPerSecond" &&
      one(one(aws_appautoscaling_policy.upstream_rate[0].target_tracking_scaling_policy_configuration).customized_metric_specification).namespace == "BedrockLink" &&
      one(one(aws_appautoscaling_policy.upstream_rate[0].target_tracking_scaling_policy_configuration).customized_metric_specification).statistic == "Average" &&
      [for d in one(one(aws_appautoscaling_policy.upstream_rate[0].target_tracking_scaling_policy_configuration).customized_metric_specification).dimensions : "${d.name}=${d.value}"] == ["Service=t"]
    )
    error_message = "Each task's upstream queries per second (the average over the Service) are held at half its 900/s budget: 450."
  }

  assert {
    condition     = one(one(aws_appautoscaling_policy.cpu[0].target_tracking_scaling_policy_configuration).predefined_metric_specification).predefined_metric_type == "ECSServiceAverageCPUUtilization" && one(aws_appautoscaling_policy.cpu[0].target_tracking_scaling_policy_configuration).target_value == 60
    error_message = "CPU is tracked too, at 60%."
  }

  assert {
    condition     = aws_ecs_service.nlb[0].desired_count == 2 && aws_cloudwatch_metric_alarm.nlb_healthy_hosts[0].threshold == 2
    error_message = "The service starts at the floor, and the healthy-hosts alarm watches the floor."
  }
}

run "without_autoscaling_the_count_is_fixed" {
  command = plan

  variables {
    desired_count = 3
  }

  assert {
    condition     = aws_appautoscaling_target.tasks[0].min_capacity == 3 && aws_appautoscaling_target.tasks[0].max_capacity == 3 && length(aws_appautoscaling_policy.upstream_rate) + length(aws_appautoscaling_policy.cpu) == 0
    error_message = "Without autoscaling the scalable target holds desired_count both ways, and nothing scales."
  }
}

run "scaling_in_daemon_mode_is_refused" {
  command = plan

  variables {
    mode        = "ecs-daemon"
    autoscaling = { min_tasks = 2, max_tasks = 4 }
  }

  expect_failures = [aws_ecs_task_definition.this]
}

run "scaling_without_emf_is_refused" {
  command = plan

  variables {
    emf         = { enabled = false }
    autoscaling = { min_tasks = 2, max_tasks = 4 }
  }

  expect_failures = [aws_appautoscaling_target.tasks]
}

run "scaling_past_the_hosts_is_refused" {
  command = plan

  variables {
    launch_type  = "EC2"
    ec2_capacity = { min_size = 2, max_size = 3 }
    autoscaling  = { min_tasks = 2, max_tasks = 4 }
  }

  expect_failures = [aws_appautoscaling_target.tasks]
}
