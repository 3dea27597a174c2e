# VPC flow logs for the VPCs this module creates (an existing VPC keeps its own setup). Each
# side's module (modules/vpc) holds its log group, in its VPC's region with its own
# (regional) KMS key, and its flow log; the role that writes them is here.

locals {
  flow_log_vpcs = var.flow_logs ? merge(
    var.create_app_vpc ? { app = true } : {},
    var.create_endpoint_vpc ? { endpoint = true } : {},
  ) : {}
}

# IAM is global; the role serves both regions' flow logs.
resource "aws_iam_role" "flow_logs" {
  count    = length(local.flow_log_vpcs) > 0 ? 1 : 0
  provider = aws.app

  name_prefix = "${var.name}-flowlogs-"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "vpc-flow-logs.amazonaws.com" }
    }]
  })
  tags = local.tags

  lifecycle {
    create_before_destroy = true
    # Checked here, before either side's log group is planned: the role exists exactly when
    # some log group does.
    precondition {
      condition     = !lookup(local.flow_log_vpcs, "app", false) || var.app_log_kms_key_arn == null || try(split(":", var.app_log_kms_key_arn)[3], "") == var.app_region
      error_message = "app_log_kms_key_arn must be a key in app_region (${var.app_region}): KMS keys are regional."
    }
    precondition {
      condition     = !lookup(local.flow_log_vpcs, "endpoint", false) || var.endpoint_log_kms_key_arn == null || try(split(":", var.endpoint_log_kms_key_arn)[3], "") == var.endpoint_region
      error_message = "endpoint_log_kms_key_arn must be a key in endpoint_region (${var.endpoint_region}): KMS keys are regional."
    }
  }
}

resource "aws_iam_role_policy" "flow_logs" {
  count    = length(local.flow_log_vpcs) > 0 ? 1 : 0
  provider = aws.app

  name = "write-flow-logs"
  role = aws_iam_role.flow_logs[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
      Resource = [for g in concat(module.app_vpc[*].flow_log_group, module.endpoint_vpc[*].flow_log_group) : "${g.arn}:*"]
    }]
  })
}
